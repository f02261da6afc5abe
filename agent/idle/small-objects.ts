import { isNotFound } from '../../shared/aws/s3-errors.ts';
import type { LargeObjectStore, ObjectStore } from '../../shared/aws/s3-object-store.ts';

/** Small JSON objects under the agent's status prefix (keep-awake lease, running hours). */
export interface SmallObjects {
  /** The object's text, or null when there is none. */
  getText(key: string): Promise<string | null>;
  putText(key: string, body: string): Promise<void>;
}

/** Objects larger than this are not what the agent wrote or reads: refused rather than buffered. */
const MAX_BYTES = 1024 * 1024;

export function smallObjects(store: ObjectStore & Pick<LargeObjectStore, 'getStream'>): SmallObjects {
  return {
    async getText(key) {
      let body: AsyncIterable<Buffer | string>;
      try {
        body = (await store.getStream(key)).body;
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of body) {
        const b = typeof c === 'string' ? Buffer.from(c) : c;
        size += b.length;
        if (size > MAX_BYTES) throw new Error(`${key}: larger than ${MAX_BYTES} bytes`);
        chunks.push(b);
      }
      return Buffer.concat(chunks).toString('utf8');
    },
    putText(key, body) {
      return store.putObject(key, body, 'application/json');
    },
  };
}

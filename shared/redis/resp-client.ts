import { connect, type Socket } from 'node:net';
import { encodeCommand, parseReply, RespError, type RespValue } from './resp.ts';

/**
 * The smallest Redis client the agent needs: one TCP connection, commands
 * answered in order, a time limit on each. No dependency and no pool because
 * the agent asks a handful of read-only questions every poll; the connection
 * is opened per poll and closed after, so a restarted Redis never leaves a
 * dead socket behind.
 */
export interface RedisCommands {
  command(args: readonly (string | number)[]): Promise<RespValue>;
  close(): void;
}

export async function connectRedis(
  address: { host: string; port: number },
  timeoutMs = 3_000,
): Promise<RedisCommands> {
  const socket: Socket = connect(address);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${address.host}:${address.port}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`redis ${address.host}:${address.port}: ${err.message}`));
    });
  });

  let buf = Buffer.alloc(0);
  const waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] =
    [];
  const failAll = (err: Error) => {
    for (const w of waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  };
  socket.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      let parsed: ReturnType<typeof parseReply>;
      try {
        parsed = parseReply(buf);
      } catch (err) {
        failAll(err as Error);
        socket.destroy();
        return;
      }
      if (!parsed) return;
      buf = buf.subarray(parsed.end);
      const w = waiting.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(parsed.value);
      }
    }
  });
  socket.on('error', (err) => failAll(new Error(`redis: ${err.message}`)));
  socket.on('close', () => failAll(new Error('redis: connection closed')));

  return {
    command(args) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          failAll(new Error(`redis ${String(args[0])}: no reply within ${timeoutMs} ms`));
          socket.destroy();
        }, timeoutMs);
        waiting.push({ resolve, reject, timer });
        socket.write(encodeCommand(args));
      });
    },
    close() {
      socket.end();
      socket.destroy();
    },
  };
}

/** A reply that must not be an error: a `-ERR` becomes a thrown Error naming the command. */
export async function commandOk(
  redis: RedisCommands,
  args: readonly (string | number)[],
): Promise<RespValue> {
  const v = await redis.command(args);
  if (v instanceof RespError) throw new Error(`redis ${args.join(' ')}: ${v.message}`);
  return v;
}

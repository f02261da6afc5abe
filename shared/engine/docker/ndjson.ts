/**
 * Splits a byte stream into JSON values, one per line. Docker's event stream
 * is NDJSON, but HTTP chunks do not respect lines: one object may arrive in
 * pieces and several may arrive in one chunk. Multi-byte UTF-8 split across
 * chunks is handled by the TextDecoder's streaming mode.
 */
export class NdjsonParser {
  private buffer = '';
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    private readonly onValue: (value: unknown) => void,
    private readonly onBadLine: (line: string, err: Error) => void = () => {},
  ) {}

  push(chunk: Uint8Array | string): void {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    let nl = this.buffer.indexOf('\n');
    while (nl !== -1) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.emit(line);
      nl = this.buffer.indexOf('\n');
    }
  }

  /** End of stream: a final line without a newline still counts. */
  end(): void {
    this.buffer += this.decoder.decode();
    const rest = this.buffer;
    this.buffer = '';
    this.emit(rest);
  }

  private emit(line: string): void {
    const text = line.trim();
    if (text === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.onBadLine(text, err as Error);
      return;
    }
    this.onValue(value);
  }
}

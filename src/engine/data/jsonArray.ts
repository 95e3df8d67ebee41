/**
 * Splits a JSON array ([{...}, {...}], as Alpaca's alpaca_data.json and other `.json` datasets are saved) into
 * its elements' bytes as they stream in, so a large file is read only as far as max_samples needs and never
 * held whole. It tracks strings (and their escapes) and nesting; UTF-8 continuation bytes never equal the ASCII
 * bytes it looks at, so it works on raw bytes. Each element is parsed by the caller (JSON.parse), which checks
 * what the splitter does not.
 */
export class JsonArraySplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  private ended = false;
  private element: Buffer[] = [];
  private elementBytes = 0;
  private line = 1;
  private elementLine = 1;
  private offset = 0;

  constructor(
    /** Called with each element's bytes and the line it starts on. */
    private readonly onElement: (bytes: Buffer, line: number) => void,
    /** An element may be this long at most. */
    private readonly maxElementBytes: number,
    /** A problem at a line: the caller turns it into an error. */
    private readonly fail: (message: string, line: number) => never,
  ) {}

  /** Feeds bytes; returns false once the array has ended. `stop` is asked after each element. */
  push(chunk: Buffer, stop: () => boolean): boolean {
    let from = -1;
    for (let i = 0; i < chunk.length; i++, this.offset++) {
      const b = chunk[i];
      if (b === 0x0a) this.line++;
      if (this.ended) {
        if (!isSpace(b)) this.fail('There is more after the end of the JSON array', this.line);
        continue;
      }
      if (!this.started) {
        if (isSpace(b) || (this.offset < 3 && b === UTF8_BOM[this.offset])) continue;
        if (b !== 0x5b) this.fail('A .json dataset must be a JSON array of records, or one JSON object per line', this.line);
        this.started = true;
        continue;
      }
      if (this.depth === 0) {
        // between elements: whitespace, commas, the closing bracket, or an element's first byte
        if (isSpace(b) || b === 0x2c) continue;
        if (b === 0x5d) {
          this.ended = true;
          continue;
        }
        if (b !== 0x7b) this.fail('Each element of the JSON array must be a JSON object', this.line);
        from = i;
        this.elementLine = this.line;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === 0x5c) this.escaped = true;
        else if (b === 0x22) this.inString = false;
        continue;
      }
      if (b === 0x22) this.inString = true;
      else if (b === 0x7b || b === 0x5b) this.depth++;
      else if (b === 0x7d || b === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          this.keep(chunk.subarray(from < 0 ? 0 : from, i + 1));
          from = -1;
          const bytes = this.element.length === 1 ? this.element[0] : Buffer.concat(this.element);
          this.element = [];
          this.elementBytes = 0;
          this.onElement(bytes, this.elementLine);
          if (stop()) return false;
        }
      }
    }
    if (this.depth > 0) this.keep(chunk.subarray(from < 0 ? 0 : from));
    return !this.ended;
  }

  /** The end of the input: the array must have closed. */
  end(): void {
    if (!this.started) this.fail('The .json dataset is empty', this.line);
    if (!this.ended) this.fail('The JSON array is not closed (the file ends inside it)', this.line);
  }

  private keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.elementBytes += bytes.length;
    if (this.elementBytes > this.maxElementBytes)
      this.fail(`The record starting here is longer than ${this.maxElementBytes / 1024 / 1024} MB`, this.elementLine);
    // a copy: the reader reuses its chunk buffer
    this.element.push(Buffer.from(bytes));
  }
}

const UTF8_BOM = [0xef, 0xbb, 0xbf];

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { Template } from '@huggingface/jinja';
import { CancelledError, SaeDiffError, throwIfAborted } from '../core/errors';
import { JsonArraySplitter } from './jsonArray';
import { readParquetPrompts } from './parquetPrompts';
import { recordHint, toPromptRecord, type PromptRecord } from './promptRecords';

/** One JSONL record may be this long at most; a longer line is refused (V8 strings stop at ~512 MB). */
export const MAX_RECORD_BYTES = 128 * 1024 * 1024;
const CHUNK = 1024 * 1024;

function datasetError(file: string, message: string, line?: number, hint?: string): SaeDiffError {
  return new SaeDiffError(message, { location: line === undefined ? { file, key: 'dataset.path' } : { file, line, column: 1 }, hint });
}

/**
 * Splits a byte stream into prompt records and stops at `maxSamples`: the dataset is streamed, never
 * read whole, so a 1 GB file costs what its first records cost. `.txt`: a prompt per line; `.jsonl`: a JSON
 * record per line; `.json`: a JSON array of records (split as it streams, jsonArray.ts), or a record per line
 * when it does not start with `[`. Records are decoded as strict UTF-8; a UTF-8 BOM at the start is skipped.
 */
export class PromptParser {
  readonly records: PromptRecord[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineNo = 0;
  /** undefined until a .json file shows whether it is an array. */
  private mode: 'lines' | 'jsonl' | 'array' | undefined;
  private array?: JsonArraySplitter;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

  /** `field`: dataset.field, the record key that holds each prompt (toPromptRecord). */
  constructor(
    readonly file: string,
    readonly maxSamples?: number,
    readonly field?: string,
  ) {
    this.mode = /\.jsonl$/i.test(file) ? 'jsonl' : /\.json$/i.test(file) ? undefined : 'lines';
    if (this.mode === 'lines' && field !== undefined)
      throw new SaeDiffError(`dataset.field is "${field}", but ${path.basename(file)} holds one prompt per line, not records`, {
        location: { file, key: 'dataset.field' },
        hint: 'Remove dataset.field, or give the prompts as .jsonl, .json or .parquet records.',
      });
  }

  get done(): boolean {
    return this.maxSamples !== undefined && this.records.length >= this.maxSamples;
  }

  /** Feeds bytes; returns true once enough records are read (the caller stops reading). */
  push(chunk: Buffer): boolean {
    if (this.mode === undefined) {
      const first = chunk.findIndex(
        (b, i) => !(b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09 || (i < 3 && b === [0xef, 0xbb, 0xbf][i])),
      );
      if (first < 0) {
        this.addPending(chunk);
        return false;
      }
      this.mode = chunk[first] === 0x5b ? 'array' : 'jsonl';
      if (this.mode === 'array')
        this.array = new JsonArraySplitter(
          (bytes, line) => this.records.push(parseJsonlRecord(this.decode(bytes, line), this.file, line, true, this.field)),
          MAX_RECORD_BYTES,
          (message, line) => {
            throw datasetError(this.file, message, line, 'Save the dataset as a JSON array of records, or as JSONL (one record per line).');
          },
        );
      // the whitespace held while the mode was unknown is read as what it now is
      const held = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      for (const b of held) this.pushKnown(b);
    }
    return this.pushKnown(chunk);
  }

  private pushKnown(chunk: Buffer): boolean {
    if (this.array) {
      this.array.push(chunk, () => this.done);
      return this.done;
    }
    let from = 0;
    while (!this.done) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) {
        this.addPending(chunk.subarray(from));
        return false;
      }
      this.addPending(chunk.subarray(from, nl));
      this.takeLine();
      from = nl + 1;
    }
    return true;
  }

  /** The end of the input: the last line (without a newline) counts too. */
  end(): PromptRecord[] {
    if (this.array) {
      if (!this.done) this.array.end();
    } else if (!this.done && this.pendingBytes > 0) this.takeLine();
    if (this.records.length === 0) {
      throw datasetError(
        this.file,
        `The dataset ${path.basename(this.file)} has no prompts`,
        undefined,
        'Add prompts (one JSON object per line for .jsonl, a JSON array of records for .json, one prompt per line for .txt).',
      );
    }
    return this.records;
  }

  private addPending(b: Buffer): void {
    if (b.length === 0) return;
    this.pendingBytes += b.length;
    if (this.pendingBytes > MAX_RECORD_BYTES) {
      throw datasetError(
        this.file,
        `Line ${this.lineNo + 1} is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MB`,
        this.lineNo + 1,
        'Split it: only the first max_tokens tokens of a prompt are used.',
      );
    }
    // a copy: the caller may reuse its chunk's buffer for the next read (readPrompts does)
    this.pending.push(Buffer.from(b));
  }

  private decode(bytes: Uint8Array, line: number): string {
    try {
      return this.decoder.decode(bytes);
    } catch {
      throw datasetError(this.file, `Line ${line} is not valid UTF-8`, line, 'Save the dataset as UTF-8.');
    }
  }

  private takeLine(): void {
    const bytes = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.lineNo++;
    let line = this.decode(bytes, this.lineNo);
    if (this.lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') return;
    this.records.push(this.mode === 'lines' ? { text: line } : parseJsonlRecord(line, this.file, this.lineNo, false, this.field));
  }
}

/** One JSONL line (or, `inArray`, a JSON array's element) as a prompt record, or an error naming its line. */
export function parseJsonlRecord(line: string, file: string, lineNo: number, inArray = false, field?: string): PromptRecord {
  const subject = inArray ? `The record at line ${lineNo}` : `Line ${lineNo}`;
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch (e) {
    const hint = inArray ? 'Each element of the array must be one JSON object.' : 'Each line must be one JSON object.';
    throw datasetError(file, `${subject} is not valid JSON: ${(e as Error).message}`, lineNo, hint);
  }
  const parsed = toPromptRecord(rec, field);
  if (typeof parsed === 'string') throw datasetError(file, `${subject} ${parsed}`, lineNo, recordHint(field));
  return parsed;
}

/**
 * Why a dataset file cannot be read by its extension, or undefined: prompts come as .jsonl, .json, .txt or
 * .parquet (parquetPrompts.ts). Other columnar files get the line that converts them.
 */
export function datasetExtensionProblem(file: string): { message: string; hint: string } | undefined {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.json' || ext === '.txt' || ext === '.parquet') return undefined;
  const columnar = ext === '.arrow' || ext === '.csv' || ext === '.tsv';
  return {
    message: `The prompts file must be .jsonl, .json, .txt or .parquet, not '${ext || 'no extension'}'`,
    hint: columnar
      ? `Convert it to JSONL, e.g. python -c "import pandas as pd; pd.read_${ext === '.arrow' ? 'feather' : 'csv'}('${path.basename(file)}'${ext === '.tsv' ? ", sep='\\t'" : ''}).to_json('prompts.jsonl', orient='records', lines=True, force_ascii=False)" (datasets' Dataset.to_json does the same).`
      : 'Give the prompts as .jsonl (a JSON record per line), .json (a JSON array of records), .txt (a prompt per line) or .parquet (a row per record).',
  };
}

/** Whether the dataset is a Parquet file (read by row ranges, parquetPrompts.ts, not as a byte stream). */
export function isParquet(file: string): boolean {
  return path.extname(file).toLowerCase() === '.parquet';
}

function checkDatasetPath(file: string, st: fs.Stats | undefined): void {
  if (!st)
    throw datasetError(
      file,
      `Dataset not found: ${file}`,
      undefined,
      'Check dataset.path (relative paths resolve against the config file).',
    );
  if (st.isDirectory())
    throw datasetError(
      file,
      `The dataset ${file} is a folder, not a prompts file`,
      undefined,
      'Give a .jsonl, .json, .txt or .parquet file.',
    );
  const bad = datasetExtensionProblem(file);
  if (bad) throw datasetError(file, bad.message, undefined, bad.hint);
}

/** Reads prompts: .jsonl (a record per line), .json (an array of records), or .txt (a prompt per line); promptRecords.ts says which records. */
export function readPrompts(file: string, maxSamples?: number, field?: string): PromptRecord[] {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    st = undefined;
  }
  checkDatasetPath(file, st);
  // hyparquet reads asynchronously only
  if (isParquet(file)) throw datasetError(file, 'A Parquet dataset is read by readPromptsAsync', undefined, 'Call readPromptsAsync.');
  const parser = new PromptParser(file, maxSamples, field);
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0 || parser.push(buf.subarray(0, n))) break;
    }
  } finally {
    fs.closeSync(fd);
  }
  return parser.end();
}

/**
 * The same, without blocking the event loop: a FIFO or a slow disk never keeps a signal from being
 * handled, and an abort stops the read at once with CancelledError.
 */
export async function readPromptsAsync(file: string, maxSamples?: number, signal?: AbortSignal, field?: string): Promise<PromptRecord[]> {
  throwIfAborted(signal);
  const st = await fs.promises.stat(file).catch(() => undefined);
  checkDatasetPath(file, st);
  if (isParquet(file)) {
    if (!st!.isFile())
      throw datasetError(
        file,
        `The Parquet dataset ${file} is not a regular file`,
        undefined,
        'A Parquet file is read from its footer: give a file, not a pipe.',
      );
    try {
      return await readParquetPrompts(file, maxSamples, signal, field);
    } catch (e) {
      if (e instanceof SaeDiffError || e instanceof CancelledError) throw e;
      throw datasetError(file, `Cannot read the dataset: ${(e as Error).message}`);
    }
  }
  const parser = new PromptParser(file, maxSamples, field);
  let stream: NodeJS.ReadableStream & { destroy(): void };
  if (st!.isFIFO()) {
    // a FIFO is read through the event loop (net.Socket), never by a blocked thread-pool thread, which
    // would keep the process from exiting after a signal; only its open() waits for a writer
    const fd = await openFifo(file, signal);
    stream = new net.Socket({ fd, readable: true, writable: false });
  } else stream = fs.createReadStream(file, { highWaterMark: CHUNK });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      stream.destroy();
      reject(new CancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  const read = (async () => {
    for await (const chunk of stream) if (parser.push(chunk as Buffer)) break;
    return parser.end();
  })();
  try {
    return await Promise.race([read, aborted]);
  } catch (e) {
    if (e instanceof SaeDiffError || e instanceof CancelledError) throw e;
    throw datasetError(file, `Cannot read the dataset: ${(e as Error).message}`);
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/**
 * Opens a FIFO for reading; open() blocks until a writer comes. On abort, a writer is opened and
 * closed at once (O_NONBLOCK), which releases the waiting open (the reader then sees end of file).
 */
function openFifo(file: string, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      try {
        fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      } catch {
        /* no reader any more */
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    fs.open(file, fs.constants.O_RDONLY, (err, fd) => {
      signal?.removeEventListener('abort', onAbort);
      if (cancelled) {
        if (!err) fs.close(fd, () => {});
        reject(new CancelledError());
      } else if (err) reject(datasetError(file, `Cannot open the dataset: ${err.message}`));
      else resolve(fd);
    });
  });
}

/**
 * How many characters of a prompt can matter for `maxTokens` tokens: text is cut to this before it is
 * encoded, so a 100 MB line costs what its start costs. `encodeCapped` checks the cut was long enough.
 */
export function charBound(maxTokens: number): number {
  return Math.max(1024, maxTokens * 32);
}

/**
 * The first `maxTokens` ids of `text`, encoding only a prefix of it: a prefix that still yields a
 * margin of tokens past `maxTokens` gives the same first ids as the whole text (a cut only changes the
 * tokens of the last pre-tokenized word); otherwise the prefix is grown until it does or is the text.
 */
export function encodeCapped(encode: (t: string) => number[], text: string, maxTokens: number): number[] {
  const margin = 16;
  for (let bound = charBound(maxTokens); ; bound *= 4) {
    if (text.length <= bound) return encode(text).slice(0, maxTokens);
    const ids = encode(text.slice(0, bound));
    if (ids.length >= maxTokens + margin) return ids.slice(0, maxTokens);
  }
}

/**
 * What of a record is kept before rendering: each text or message content cut to 64 × charBound
 * characters (2048 characters per token), far past what encodeCapped ever needs; the rendered
 * prompt's start does not change, and a 100 MB record costs what its first megabyte costs.
 */
export function cutRecord(rec: PromptRecord, maxTokens: number): PromptRecord {
  const cap = charBound(maxTokens) * 64;
  if ('text' in rec) return rec.text.length > cap ? { text: rec.text.slice(0, cap) } : rec;
  return { messages: rec.messages.map((m) => (m.content.length > cap ? { role: m.role, content: m.content.slice(0, cap) } : m)) };
}

/**
 * Renders chat records with a Jinja chat template, with what transformers' apply_chat_template gives it
 * (utils/chat_template_utils.py render_jinja_template): the messages, tools and documents as None (defined: a
 * template testing `tools is defined` takes the branch transformers takes), add_generation_prompt (set when the
 * last turn is not the assistant's) and the special tokens.
 */
export function renderPrompt(
  rec: PromptRecord,
  template: Template | undefined,
  specialTokens: Record<string, string>,
  file: string,
  /** Where the template came from and which prompt this is (0-based), for the message when the template refuses it. */
  at?: { templateFile: string; index: number },
): string {
  if ('text' in rec) return rec.text;
  if (!template) {
    throw new SaeDiffError("The dataset has chat messages but neither model's tokenizer has a chat template", {
      location: { file, key: 'dataset.path' },
      hint: 'Add chat_template.jinja (or a chat_template in tokenizer_config.json) to the model folder, or give prompts as text.',
    });
  }
  const last = rec.messages[rec.messages.length - 1];
  try {
    return template.render({
      messages: rec.messages,
      tools: null,
      documents: null,
      add_generation_prompt: last?.role !== 'assistant',
      ...specialTokens,
    });
  } catch (e) {
    // a template's own raise_exception (Gemma's "System role not supported", roles that do not alternate) or a
    // record it cannot walk: transformers stops with the same message
    const which = at ? `prompt ${at.index + 1} of ${file}` : `a prompt of ${file}`;
    throw new SaeDiffError(`The chat template cannot render ${which}: ${(e as Error).message}`, {
      location: { file: at?.templateFile ?? file },
      hint: "transformers' apply_chat_template stops on it too. Change the prompts to what the template accepts (Gemma's templates take no system turn; most want user and assistant turns to alternate), or take another model's template with dataset.chat_template_from.",
    });
  }
}

export function compileTemplate(source: string, file: string): Template {
  try {
    return new Template(source);
  } catch (e) {
    throw new SaeDiffError(`The chat template does not parse: ${(e as Error).message}`, { location: { file, key: 'chat_template' } });
  }
}

/**
 * Prompts from a Parquet file, the format Hugging Face hub datasets are stored in (`datasets`' to_parquet, the
 * hub's parquet conversion, pandas' to_parquet). Read with hyparquet, a row range at a time until max_samples, and
 * only the columns a record shape reads (promptRecords.ts): an id or score column is never decoded. hyparquet
 * assembles nested columns as JSON would hold them (a `messages` list<struct<role, content>> is a list of
 * {role, content} objects, a null is null), so each row is then read as the same JSONL record would be.
 *
 * Codecs: hyparquet decodes uncompressed and Snappy pages (pyarrow's and datasets' default); GZIP and Brotli come
 * from node:zlib; ZSTD (Polars' default) from node:zlib where this Node has it (22.15 and later), else from fzstd.
 * LZ4 and LZO are refused, naming the codec.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { parquetMetadata, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import type { AsyncBuffer, Compressors, FileMetaData, SchemaTree } from 'hyparquet';
import { SaeDiffError, throwIfAborted } from '../core/errors';
import { readAt } from '../io/readAt';
import { RECORD_SHAPES, recordHint, toPromptRecord, type PromptRecord } from './promptRecords';

/** The top-level columns the record shapes read; the others are not decoded. */
const PROMPT_COLUMNS = [
  'text',
  'prompt',
  'messages',
  'conversations',
  'conversation',
  'system',
  'instruction',
  'input',
  'output',
  'history',
];
/** Rows decoded at once: a row group can hold many thousands, and max_samples is often small. */
const ROWS_PER_READ = 1024;

function parquetError(file: string, message: string, hint?: string): SaeDiffError {
  return new SaeDiffError(message, { location: { file, key: 'dataset.path' }, hint });
}

type Decompress = (input: Uint8Array, outputLength: number) => Uint8Array;
const nodeZstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;
/** Decoders for the codecs hyparquet leaves to its caller. */
const COMPRESSORS: Compressors = {
  GZIP: ((input) => zlib.gunzipSync(input)) as Decompress,
  BROTLI: ((input) => zlib.brotliDecompressSync(input)) as Decompress,
  // the page header gives the decoded size: fzstd writes into a buffer of it
  ZSTD: (nodeZstd ? (input) => nodeZstd(input) : (input, length) => zstdDecompress(input, new Uint8Array(length))) as Decompress,
};
const DECODED_CODECS = new Set(['UNCOMPRESSED', 'SNAPPY', ...Object.keys(COMPRESSORS)]);

/** What a Parquet file holds for the run: its rows, the prompt columns read, and whether its records are chats. */
export interface ParquetLayout {
  rows: number;
  columns: string[];
  chat: boolean;
}

const isList = (t: SchemaTree) =>
  t.element.converted_type === 'LIST' || t.element.logical_type?.type === 'LIST' || t.element.repetition_type === 'REPEATED';
const isString = (t: SchemaTree) => t.children.length === 0 && t.element.type === 'BYTE_ARRAY';

/** The top-level columns that could hold a prompt (dataset.field): strings (text) and lists (chat messages). */
export function promptColumns(metadata: FileMetaData): { name: string; kind: 'text' | 'chat' }[] {
  return parquetSchema(metadata).children.flatMap((c): { name: string; kind: 'text' | 'chat' }[] =>
    isString(c) ? [{ name: c.element.name, kind: 'text' }] : isList(c) ? [{ name: c.element.name, kind: 'chat' }] : [],
  );
}

/**
 * The layout of the file's metadata, or what makes it unreadable: no prompt column, or a codec this reader cannot
 * decode. Whether records are chats follows toPromptRecord's order (text, messages, prompt, conversations,
 * instruction) by column type; a row's nulls may still send it to a later shape.
 */
export function parquetLayout(metadata: FileMetaData, file: string, field?: string): ParquetLayout {
  const top = new Map(parquetSchema(metadata).children.map((c) => [c.element.name, c]));
  const columns = field !== undefined ? [field] : PROMPT_COLUMNS.filter((c) => top.has(c));
  const has = (name: string, kind: (t: SchemaTree) => boolean) => top.has(name) && kind(top.get(name)!);
  const name = path.basename(file);
  const found = [...top.keys()].slice(0, 12).join(', ');
  // dataset.field names the column: what it holds (strings or lists) says text or chat
  const named = field === undefined ? undefined : promptColumns(metadata).find((c) => c.name === field);
  if (field !== undefined && !named)
    throw new SaeDiffError(
      top.has(field)
        ? `${name}'s column "${field}" (dataset.field) holds neither strings nor lists of chat messages`
        : `${name} has no column "${field}" (dataset.field): its columns are ${found || 'none'}`,
      { location: { file, key: 'dataset.field' }, hint: 'Set dataset.field to the column that holds each prompt.' },
    );
  const shape = named
    ? named.kind
    : has('text', isString)
      ? 'text'
      : has('messages', isList)
        ? 'chat'
        : has('prompt', isString)
          ? 'text'
          : has('prompt', isList) || has('conversations', isList) || has('conversation', isList) || has('instruction', isString)
            ? 'chat'
            : undefined;
  if (!shape)
    throw parquetError(
      file,
      `${name} has no prompt column: its columns are ${found || 'none'}, and dataset.field can name the one that holds the prompt`,
      `Give it ${RECORD_SHAPES} column.`,
    );
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const codec = chunk.meta_data?.codec;
      const column = chunk.meta_data?.path_in_schema[0];
      if (codec && column && columns.includes(column) && !DECODED_CODECS.has(codec)) {
        throw parquetError(
          file,
          `${name} stores column "${column}" with ${codec} compression, which sae-diff does not decode (it reads ${[...DECODED_CODECS].join(', ')})`,
          `Write it again with Snappy: python -c "import pyarrow.parquet as pq; pq.write_table(pq.read_table('${name}'), 'prompts.parquet', compression='snappy')"`,
        );
      }
    }
  }
  return { rows: Number(metadata.num_rows), columns, chat: shape === 'chat' };
}

/** The file's footer metadata, read synchronously (the editor's checks): the last bytes of the file only. */
export function readParquetMetadata(file: string): FileMetaData {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const tail = Buffer.alloc(Math.min(8, size));
    readAt(fd, tail, 0, tail.length, size - tail.length, file);
    if (size < 12 || tail.toString('latin1', 4) !== 'PAR1') throw new Error('no PAR1 footer: it is not a Parquet file, or it is cut short');
    const length = tail.readUInt32LE(0) + 8;
    if (length > size) throw new Error(`its footer claims ${length} bytes of the file's ${size}`);
    const footer = Buffer.alloc(length);
    readAt(fd, footer, 0, length, size - length, file);
    return parquetMetadata(footer);
  } catch (e) {
    throw parquetError(file, `Cannot read the Parquet file ${path.basename(file)}: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** hyparquet's view of an open file: byte ranges read where they lie. */
function fileBuffer(handle: fs.promises.FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end = size) {
      const out = new Uint8Array(end - start);
      for (let done = 0; done < out.length;) {
        const { bytesRead } = await handle.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) throw new Error(`the file ends before byte ${end}`);
        done += bytesRead;
      }
      return out.buffer;
    },
  };
}

/** The prompts of a Parquet file, in row order, up to `maxSamples`; each row read as promptRecords.ts reads a record. */
export async function readParquetPrompts(file: string, maxSamples?: number, signal?: AbortSignal, field?: string): Promise<PromptRecord[]> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const buffer = fileBuffer(handle, (await handle.stat()).size);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (e) {
      throw parquetError(file, `Cannot read the Parquet file ${path.basename(file)}: ${(e as Error).message}`);
    }
    const { rows, columns } = parquetLayout(metadata, file, field);
    const wanted = Math.min(rows, maxSamples ?? rows);
    const records: PromptRecord[] = [];
    for (let start = 0; start < wanted; start += ROWS_PER_READ) {
      throwIfAborted(signal);
      const end = Math.min(wanted, start + ROWS_PER_READ);
      let objects: Record<string, unknown>[];
      try {
        objects = await parquetReadObjects({ file: buffer, metadata, columns, rowStart: start, rowEnd: end, compressors: COMPRESSORS });
      } catch (e) {
        throw parquetError(file, `Cannot read rows ${start}-${end - 1} of ${path.basename(file)}: ${(e as Error).message}`);
      }
      objects.forEach((row, i) => {
        const record = toPromptRecord(row, field);
        if (typeof record === 'string')
          throw parquetError(file, `The row at index ${start + i} of ${path.basename(file)} ${record}`, recordHint(field, 'row'));
        records.push(record);
      });
    }
    if (records.length === 0) throw parquetError(file, `The dataset ${path.basename(file)} has no prompts`, 'It has no rows.');
    return records;
  } finally {
    await handle.close();
  }
}

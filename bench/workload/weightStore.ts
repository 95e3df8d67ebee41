import * as fs from 'fs';
import { onnx } from 'onnx-proto';
import { toHalfArray } from './rng';

const ALIGN = 4096;

/**
 * Collects a model's initializers. Inline (raw_data in the .onnx) for small models; for models whose
 * weights would approach protobuf's 2 GB message limit, each large tensor is appended to one external
 * data file, as ONNX's external-data spec writes it (onnx/external_data_helper.py: data_location EXTERNAL,
 * external_data keys location / offset / length, offsets aligned to the page size for mmap).
 */
export class WeightStore {
  readonly initializers: onnx.ITensorProto[] = [];
  private fd: number | undefined;
  private offset = 0;

  constructor(private readonly externalFile?: { path: string; location: string; minBytes: number }) {
    if (externalFile) this.fd = fs.openSync(externalFile.path, 'w');
  }

  /** A float weight in the model's dtype (values given as float32, stored as float16 when asked). */
  addFloat(name: string, dims: number[], values: Float32Array, half: boolean): void {
    const raw = half ? toHalfArray(values) : values;
    this.addRaw(
      name,
      dims,
      half ? onnx.TensorProto.DataType.FLOAT16 : onnx.TensorProto.DataType.FLOAT,
      new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
    );
  }

  addInt64(name: string, dims: number[], values: number[]): void {
    const raw = BigInt64Array.from(values, (v) => BigInt(v));
    this.addRaw(name, dims, onnx.TensorProto.DataType.INT64, new Uint8Array(raw.buffer));
  }

  private addRaw(name: string, dims: number[], dataType: number, bytes: Uint8Array): void {
    if (this.fd === undefined || bytes.length < this.externalFile!.minBytes) {
      this.initializers.push({ name, dims, dataType, rawData: Buffer.from(bytes) });
      return;
    }
    const start = Math.ceil(this.offset / ALIGN) * ALIGN;
    fs.writeSync(this.fd, bytes, 0, bytes.length, start);
    this.offset = start + bytes.length;
    this.initializers.push({
      name,
      dims,
      dataType,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: this.externalFile!.location },
        { key: 'offset', value: String(start) },
        { key: 'length', value: String(bytes.length) },
      ],
    });
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export { iterateArrow } from './arrow';
export { iterateCsv, type CsvOptions } from './csv';
export { compressionOf, detectFormat, isRecordFile, type Compression, type FileFormat, type RecordFormat } from './format';
export { readJsonArray } from './json-array';
export { iterateJsonLines } from './json-lines';
export { iterateParquet } from './parquet';
export type { DataRecord, LocatedRecord } from './record';
export { iterateRecords, readLocatedRecords, readRecords, type ReadRecordsOptions } from './records';
export { readTextLines } from './text-stream';

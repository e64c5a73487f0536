/** What pull and push report as they go, for a progress display (or nothing). */
export type TransferAction =
  | 'waiting' // queued
  | 'compressing' // a layer compressed before its upload (detail: the compression)
  | 'exists' // already in the store / the registry: nothing to transfer
  | 'downloading'
  | 'downloaded' // verified and stored
  | 'uploading'
  | 'uploaded'
  | 'mounted' // the registry linked it from another repository: no bytes sent
  | 'retrying';

export interface TransferEvent {
  /** The blob's digest. */
  digest: string;
  kind: 'config' | 'layer';
  action: TransferAction;
  /** Bytes transferred so far, and the blob's size. */
  done?: number;
  total?: number;
  /** The repository a blob was mounted from, why a transfer is retried, the compression. */
  detail?: string;
}

export type ProgressSink = (e: TransferEvent) => void;

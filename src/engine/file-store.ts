import type { Address, NickKey } from '../protocol/names.js';

/** What an offer says about its file, kept with it until it expires. */
export interface FileOffer {
  /** Random, 22 base64url characters (no braces: it goes in a Redis hash tag). */
  readonly id: string;
  /** The sender's nick as shown, and folded. */
  readonly from: string;
  readonly fromKey: NickKey;
  /** The target as written on the wire (`@Bob`, `#dev`, `*`), and its address. */
  readonly to: string;
  readonly address: Address;
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
  /** ms since epoch: the file and everything about it is gone then. */
  readonly expires: number;
}

/** `uploading` until the sender's file_end checks out (`stored`); `failed` once dropped. */
export type FileState = 'uploading' | 'stored' | 'failed';

export interface StoredFile extends FileOffer {
  readonly state: FileState;
}

/** The store-wide limits an offer is checked against, in bytes. */
export interface FileQuotas {
  /** What one sender's live files may hold together. */
  readonly perSender: number;
  /** What all live files may hold together. */
  readonly total: number;
}

/** Stored chunks from some seq on, and how the upload stands. */
export interface FilePage {
  readonly state: FileState;
  /** Chunks stored so far: the next seq the upload will take. */
  readonly stored: number;
  /** Each chunk's frame JSON (protocol/files chunkJson), in seq order. */
  readonly chunks: string[];
}

/**
 * Files offered and their bytes, kept until they expire: the sender uploads once, every
 * receiver reads at its own pace from whichever gateway it is on. Quotas count the size an
 * offer declares, from the offer on, so a file too big for them is refused before any byte
 * is sent; a dropped file gives its bytes back, an expired one too.
 */
export interface FileStore {
  /**
   * Files the offer with who may answer it. Throws ChorusError `file_too_large` (and files
   * nothing) when the sender's or the store's quota has no room for `offer.size` more bytes.
   */
  offer(offer: FileOffer, recipients: NickKey[], quotas: FileQuotas): Promise<void>;
  /** The file while it lives (expired ones are gone, failed ones are reported as such). */
  find(id: string): Promise<StoredFile | undefined>;
  /** Whether `key` was a recipient when the file was offered. */
  isRecipient(id: string, key: NickKey): Promise<boolean>;
  /** Records a recipient's answer; true when it is new (a first answer, or a change of mind). */
  answer(id: string, key: NickKey, answer: 'accept' | 'reject'): Promise<boolean>;
  /**
   * Stores chunk `seq` (its frame JSON): `gap` unless `seq` is the next one, `gone` unless the
   * file is still uploading (expired, failed, or already complete).
   */
  append(id: string, seq: number, json: string): Promise<'ok' | 'gap' | 'gone'>;
  /** The upload is complete and verified: receivers get file_end after the last chunk. False when it was not uploading. */
  seal(id: string): Promise<boolean>;
  /** The file failed: its bytes and quota go now, readers see `failed` until it expires. */
  drop(id: string): Promise<void>;
  /** Up to `limit` chunks from `fromSeq` on; undefined when the file is gone. */
  read(id: string, fromSeq: number, limit: number): Promise<FilePage | undefined>;
}

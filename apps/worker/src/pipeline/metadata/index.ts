/**
 * Metadata removal, one streaming editor per format family. See docs/ARCHITECTURE.md
 * ("Metadata policy") for what is removed, what is kept and why.
 */
import type { ImageType } from '@rehost/jobs';
import { AvifEditor } from './avif-editor.js';
import { GifEditor } from './gif-editor.js';
import { JpegEditor } from './jpeg-editor.js';
import { PngEditor } from './png-editor.js';
import type { StreamEditor } from './stream-editor.js';
import { WebpEditor } from './webp-editor.js';

export { METADATA_KINDS, type MetadataKind, StreamEditor } from './stream-editor.js';

export function metadataEditor(type: ImageType): StreamEditor {
  switch (type) {
    case 'image/jpeg':
      return new JpegEditor();
    case 'image/png':
      return new PngEditor();
    case 'image/gif':
      return new GifEditor();
    case 'image/webp':
      return new WebpEditor();
    case 'image/avif':
      return new AvifEditor();
  }
}

/** Orientations 5–8 turn the image a quarter: the displayed width is the stored height. */
export function displayedSize(width: number, height: number, orientation: number): { width: number; height: number } {
  return orientation >= 5 && orientation <= 8 ? { width: height, height: width } : { width, height };
}

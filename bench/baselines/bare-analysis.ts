/**
 * The bare image analysis: what the `analyze` job computes (decode with shrink-on-load to at most
 * 100×100 RGBA, orientation applied; ThumbHash, dominant colour, DCT pHash) written straight
 * against sharp and thumbhash, on bytes already in memory. The dominant colour and the pHash are
 * our functions (the same computations, not a second implementation of them), loaded from the
 * sources under tsx and from apps/worker/dist once compiled, as the baselines run.
 */
import type * as ImageFactsModule from '../../apps/worker/src/pipeline/image-facts.js';
import { repoUrl } from '../deps/root.js';
import { rgbaToThumbHash, sharp } from '../deps/sharp.js';

const compiled = !import.meta.url.endsWith('.ts');
const facts = (await import(
  repoUrl(compiled ? 'apps/worker/dist/pipeline/image-facts.js' : 'apps/worker/src/pipeline/image-facts.ts').href
)) as typeof ImageFactsModule;

export async function bareFacts(bytes: Buffer, maxPixels: number): Promise<{ placeholder: string; dominantColor: string; phash: string }> {
  const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels })
    .rotate()
    .resize(100, 100, { fit: 'inside', withoutEnlargement: true })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const img = { width: info.width, height: info.height, rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  return {
    placeholder: Buffer.from(rgbaToThumbHash(img.width, img.height, img.rgba)).toString('base64'),
    dominantColor: facts.dominantColorOf(img),
    phash: facts.phashOf(img),
  };
}

import type { Asset } from '@rehost/db';
import { type AssetView, assetViewOf } from '@rehost/jobs';
import { publicUrlFor } from '@rehost/storage';

/** The API's view of an asset (the same builder the webhook bodies use); the URL is derived at read time. */
export function toAssetView(a: Asset, publicBaseUrl: string): AssetView {
  return assetViewOf(a, (key) => publicUrlFor(publicBaseUrl, key));
}

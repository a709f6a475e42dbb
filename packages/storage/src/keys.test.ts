import { assetIdOfStagingKey, stagingKeyFor } from './keys.js';
import { stagingExpiryDaysFor } from './object-store.js';

describe('staging keys', () => {
  it('gives back the asset id a staging key was made from, and nothing for other keys', () => {
    const id = '3f1c2b4a-0000-4000-8000-000000000001';
    expect(assetIdOfStagingKey(stagingKeyFor(id))).toBe(id);
    for (const key of ['staging/', 'staging/not-an-id', `i/${id}.png`, `staging/${id}/x`, `staging/${id}.png`, id]) {
      expect(assetIdOfStagingKey(key)).toBeUndefined();
    }
  });

  it('expires staging objects a day after the longest URL lifetime', () => {
    expect(stagingExpiryDaysFor(900)).toBe(2);
    expect(stagingExpiryDaysFor(86_400)).toBe(2);
    expect(stagingExpiryDaysFor(86_401)).toBe(3);
    expect(stagingExpiryDaysFor(7 * 86_400)).toBe(8);
  });
});

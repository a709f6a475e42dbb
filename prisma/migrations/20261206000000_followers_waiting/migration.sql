-- Followers flag the holder (issue 12): a request that finds its file's claim held by another
-- asset, and waits for it, marks that asset; the holder wakes its followers only when marked,
-- instead of asking Redis after every job. No rewrite: a constant default.
-- AlterTable
ALTER TABLE "Asset" ADD COLUMN "followersWaiting" BOOLEAN NOT NULL DEFAULT false;

-- Image facts and the near-duplicate index (issue 14).
-- AlterTable
ALTER TABLE "Asset" ADD COLUMN     "analysisError" TEXT,
ADD COLUMN     "analyzedAt" TIMESTAMP(3),
ADD COLUMN     "dominantColor" TEXT,
ADD COLUMN     "phash" CHAR(16),
ADD COLUMN     "placeholder" TEXT;

-- CreateTable
CREATE TABLE "AssetPhash" (
    "assetId" UUID NOT NULL,
    "ownerKey" TEXT NOT NULL,
    "phash" BIGINT NOT NULL,
    "b0" INTEGER NOT NULL,
    "b1" INTEGER NOT NULL,
    "b2" INTEGER NOT NULL,
    "b3" INTEGER NOT NULL,

    CONSTRAINT "AssetPhash_pkey" PRIMARY KEY ("assetId")
);

-- CreateIndex
CREATE INDEX "AssetPhash_ownerKey_b0_idx" ON "AssetPhash"("ownerKey", "b0");

-- CreateIndex
CREATE INDEX "AssetPhash_ownerKey_b1_idx" ON "AssetPhash"("ownerKey", "b1");

-- CreateIndex
CREATE INDEX "AssetPhash_ownerKey_b2_idx" ON "AssetPhash"("ownerKey", "b2");

-- CreateIndex
CREATE INDEX "AssetPhash_ownerKey_b3_idx" ON "AssetPhash"("ownerKey", "b3");


-- CreateEnum
CREATE TYPE "AssetStatus" AS ENUM ('pending_upload', 'queued', 'processing', 'ready', 'failed', 'expired');

-- CreateEnum
CREATE TYPE "SourceType" AS ENUM ('upload', 'telegram', 'url');

-- CreateTable
CREATE TABLE "Asset" (
    "id" UUID NOT NULL,
    "status" "AssetStatus" NOT NULL,
    "sourceType" "SourceType" NOT NULL,
    "telegramFileId" TEXT,
    "telegramFileUniqueId" TEXT,
    "telegramBot" TEXT,
    "sourceUrl" TEXT,
    "ownerId" TEXT,
    "idempotencyKey" TEXT,
    "dedupeKey" TEXT,
    "filename" TEXT,
    "metadata" JSONB,
    "callbackUrl" TEXT,
    "declaredContentType" TEXT,
    "declaredSize" INTEGER,
    "stagingKey" TEXT,
    "key" TEXT,
    "contentType" TEXT,
    "size" INTEGER,
    "width" INTEGER,
    "height" INTEGER,
    "sha256" CHAR(64),
    "errorCode" TEXT,
    "errorMessage" TEXT,
    "uploadExpiresAt" TIMESTAMP(3),
    "readyAt" TIMESTAMP(3),
    "deletedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Asset_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Asset_idempotencyKey_key" ON "Asset"("idempotencyKey");

-- CreateIndex
CREATE UNIQUE INDEX "Asset_dedupeKey_key" ON "Asset"("dedupeKey");

-- CreateIndex
CREATE INDEX "Asset_status_updatedAt_idx" ON "Asset"("status", "updatedAt");

-- CreateIndex
CREATE INDEX "Asset_key_idx" ON "Asset"("key");

-- CreateIndex
CREATE INDEX "Asset_telegramFileUniqueId_idx" ON "Asset"("telegramFileUniqueId");

-- CreateIndex
CREATE INDEX "Asset_ownerId_createdAt_idx" ON "Asset"("ownerId", "createdAt");


-- Metadata policy (issue 13): what was stored versus received, orientation, what was removed.
-- Existing rows keep NULL orientation/sourceSha256 (not known) and an empty metadataRemoved
-- (they were stored as received).
-- AlterTable
ALTER TABLE "Asset" ADD COLUMN "metadataRemoved" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN "orientation" INTEGER,
ADD COLUMN "sourceSha256" CHAR(64);

-- Per-request assets sharing stored objects (issues 11 and 17).
-- AlterTable
ALTER TABLE "Asset" ADD COLUMN "fileKey" TEXT,
ADD COLUMN "requestHash" TEXT;

-- Ready assets keep the file they hold as `fileKey` (dedupe lookups), the in-flight claim
-- `dedupeKey` stays only on live queued/processing rows.
UPDATE "Asset" SET "fileKey" = "dedupeKey" WHERE "status" = 'ready' AND "deletedAt" IS NULL AND "dedupeKey" IS NOT NULL;
UPDATE "Asset" SET "dedupeKey" = NULL
WHERE "dedupeKey" IS NOT NULL AND ("deletedAt" IS NOT NULL OR "status" NOT IN ('queued', 'processing'));

-- Claims are taken only by live rows. A trigger, not a CHECK constraint: Prisma's schema engine
-- cannot introspect CHECK constraints (its diff crashes), and it leaves functions and triggers alone.
CREATE FUNCTION "asset_claim_only_live"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."dedupeKey" IS NOT NULL AND (NEW."deletedAt" IS NOT NULL OR NEW."status" NOT IN ('queued', 'processing')) THEN
    RAISE EXCEPTION 'asset % may not hold the file claim % (deleted or not in flight)', NEW."id", NEW."dedupeKey"
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER "Asset_claim_only_live" BEFORE INSERT OR UPDATE ON "Asset"
FOR EACH ROW EXECUTE FUNCTION "asset_claim_only_live"();

-- CreateIndex
CREATE INDEX "Asset_fileKey_idx" ON "Asset"("fileKey");

-- CreateIndex
CREATE INDEX "Asset_telegramFileId_idx" ON "Asset"("telegramFileId");

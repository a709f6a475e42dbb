-- Owners: listings, usage counters, quotas, erasure (issue 15).
-- CreateTable
CREATE TABLE "OwnerUsage" (
    "ownerId" TEXT NOT NULL,
    "assets" INTEGER NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "pending" BIGINT NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "OwnerUsage_pkey" PRIMARY KEY ("ownerId")
);

-- CreateTable
CREATE TABLE "Erasure" (
    "id" UUID NOT NULL,
    "ownerId" TEXT,
    "status" TEXT NOT NULL,
    "cutoff" TIMESTAMP(3) NOT NULL,
    "total" INTEGER NOT NULL,
    "deleted" INTEGER NOT NULL DEFAULT 0,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Erasure_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Erasure_ownerId_status_idx" ON "Erasure"("ownerId", "status");

-- CreateIndex
CREATE INDEX "Asset_ownerId_createdAt_id_idx" ON "Asset"("ownerId", "createdAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "Asset_createdAt_id_idx" ON "Asset"("createdAt" DESC, "id" DESC);

-- The usage of an owner changes in the same transaction as its assets: one trigger, for every
-- statement that writes "Asset" (API, workers, sweeper, hand-written SQL alike).
CREATE FUNCTION "asset_owner_usage"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_assets INTEGER := 0; old_bytes BIGINT := 0; old_pending BIGINT := 0;
  new_assets INTEGER := 0; new_bytes BIGINT := 0; new_pending BIGINT := 0;
BEGIN
  IF TG_OP <> 'INSERT' AND OLD."ownerId" IS NOT NULL AND OLD."deletedAt" IS NULL AND OLD."status" NOT IN ('failed', 'expired') THEN
    old_assets := 1;
    IF OLD."status" = 'ready' THEN old_bytes := COALESCE(OLD."size", 0);
    ELSE old_pending := COALESCE(OLD."declaredSize", 0);
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW."ownerId" IS NOT NULL AND NEW."deletedAt" IS NULL AND NEW."status" NOT IN ('failed', 'expired') THEN
    new_assets := 1;
    IF NEW."status" = 'ready' THEN new_bytes := COALESCE(NEW."size", 0);
    ELSE new_pending := COALESCE(NEW."declaredSize", 0);
    END IF;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD."ownerId" IS NOT DISTINCT FROM NEW."ownerId" THEN
    IF new_assets = old_assets AND new_bytes = old_bytes AND new_pending = old_pending THEN RETURN NULL; END IF;
    INSERT INTO "OwnerUsage" AS u ("ownerId", "assets", "bytes", "pending")
    VALUES (NEW."ownerId", new_assets - old_assets, new_bytes - old_bytes, new_pending - old_pending)
    ON CONFLICT ("ownerId") DO UPDATE SET "assets" = u."assets" + EXCLUDED."assets", "bytes" = u."bytes" + EXCLUDED."bytes",
      "pending" = u."pending" + EXCLUDED."pending", "updatedAt" = now();
    RETURN NULL;
  END IF;
  IF old_assets = 1 THEN
    INSERT INTO "OwnerUsage" AS u ("ownerId", "assets", "bytes", "pending") VALUES (OLD."ownerId", -1, -old_bytes, -old_pending)
    ON CONFLICT ("ownerId") DO UPDATE SET "assets" = u."assets" - 1, "bytes" = u."bytes" - old_bytes,
      "pending" = u."pending" - old_pending, "updatedAt" = now();
  END IF;
  IF new_assets = 1 THEN
    INSERT INTO "OwnerUsage" AS u ("ownerId", "assets", "bytes", "pending") VALUES (NEW."ownerId", 1, new_bytes, new_pending)
    ON CONFLICT ("ownerId") DO UPDATE SET "assets" = u."assets" + 1, "bytes" = u."bytes" + new_bytes,
      "pending" = u."pending" + new_pending, "updatedAt" = now();
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "Asset_owner_usage" AFTER INSERT OR UPDATE OR DELETE ON "Asset"
FOR EACH ROW EXECUTE FUNCTION "asset_owner_usage"();

-- Owners' usage as it stands when this migration runs.
INSERT INTO "OwnerUsage" ("ownerId", "assets", "bytes", "pending")
SELECT "ownerId", count(*),
  COALESCE(sum(CASE WHEN "status" = 'ready' THEN COALESCE("size", 0) ELSE 0 END), 0),
  COALESCE(sum(CASE WHEN "status" <> 'ready' THEN COALESCE("declaredSize", 0) ELSE 0 END), 0)
FROM "Asset"
WHERE "ownerId" IS NOT NULL AND "deletedAt" IS NULL AND "status" NOT IN ('failed', 'expired')
GROUP BY "ownerId";

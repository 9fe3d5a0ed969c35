-- 0001: artifacts, pipeline history, audit log, usage; isolated per tenant by row-level security.
--
-- Applied by pf_operator.store.db.migrate() inside one transaction holding an advisory lock, as
-- the operator's role, which owns the schema "pf" and everything in it. Tenant roles are made by
-- pf_operator.store.roles: LOGIN NOINHERIT, no other attribute, member of no role, owning
-- nothing, with the grants listed there. Their rows are found through pf.tenant_roles, keyed on
-- current_user (which a tenant cannot change: it can SET ROLE only to itself), never on a
-- setting the session could change.

-- The operator's group: policies let its members see and write every tenant's rows. Roles are
-- cluster-wide, so this one may already exist (another database of the same server).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pf_figma_operator') THEN
    CREATE ROLE pf_figma_operator NOLOGIN NOINHERIT;
  END IF;
EXCEPTION WHEN duplicate_object THEN
  NULL;
END $$;
GRANT pf_figma_operator TO CURRENT_USER;

-- Close the database to everyone but the roles given CONNECT (tenant roles get it one by one),
-- when the operator owns it (a dedicated database, as documented).
DO $$
BEGIN
  IF (SELECT datdba FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
     = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER) THEN
    EXECUTE pg_catalog.format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC',
                              pg_catalog.current_database());
  END IF;
END $$;

REVOKE ALL ON SCHEMA pf FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA pf REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA pf REVOKE ALL ON TABLES FROM PUBLIC;

-- --- settings the server enforces (not tenant data: readable by tenants, no RLS) ----------------
CREATE TABLE pf.settings (
  key   text PRIMARY KEY,
  value jsonb NOT NULL
);
INSERT INTO pf.settings (key, value) VALUES ('max_artifact_bytes', '52428800');

-- --- tenant <-> database role -------------------------------------------------------------------
CREATE TABLE pf.tenant_roles (
  tenant_id  text PRIMARY KEY
             CHECK (tenant_id ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' AND length(tenant_id) <= 63),
  role_name  name NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  rotated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE pf.tenant_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE pf.tenant_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY own_role ON pf.tenant_roles FOR SELECT USING (role_name = CURRENT_USER);
CREATE POLICY operator_all ON pf.tenant_roles TO pf_figma_operator USING (true) WITH CHECK (true);

-- --- artifacts: content-addressed blobs, per tenant (no cross-tenant deduplication, which would
-- tell one tenant what another stored) ------------------------------------------------------------
CREATE TABLE pf.blobs (
  tenant_id  text NOT NULL,
  sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size       bigint NOT NULL CHECK (size >= 0),
  data       bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, sha256),
  CONSTRAINT blob_size CHECK (size = octet_length(data)),
  CONSTRAINT blob_address CHECK (sha256 = encode(sha256(data), 'hex'))
);

CREATE FUNCTION pf.check_blob_size() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  lim bigint;
BEGIN
  SELECT (s.value #>> '{}')::bigint INTO lim FROM pf.settings s WHERE s.key = 'max_artifact_bytes';
  IF lim IS NOT NULL AND octet_length(NEW.data) > lim THEN
    RAISE EXCEPTION 'artifact of % bytes is over the limit of % bytes', octet_length(NEW.data), lim
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER blob_size_limit BEFORE INSERT OR UPDATE ON pf.blobs
  FOR EACH ROW EXECUTE FUNCTION pf.check_blob_size();

CREATE TABLE pf.artifacts (
  tenant_id    text NOT NULL,
  pipeline_key text NOT NULL CHECK (length(pipeline_key) BETWEEN 1 AND 512),
  stage        text NOT NULL CHECK (length(stage) BETWEEN 1 AND 63),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
  sha256       text NOT NULL,
  size         bigint NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, pipeline_key, stage, name),
  FOREIGN KEY (tenant_id, sha256) REFERENCES pf.blobs (tenant_id, sha256) ON DELETE CASCADE
);
CREATE INDEX artifacts_blob ON pf.artifacts (tenant_id, sha256);
CREATE INDEX artifacts_created ON pf.artifacts (created_at);

-- --- pipeline history: one row per pipeline and per stage attempt -------------------------------
CREATE TABLE pf.pipeline_runs (
  uid           text PRIMARY KEY,
  tenant_id     text NOT NULL,
  namespace     text NOT NULL,
  name          text NOT NULL,
  state         text NOT NULL,
  reason        text,
  message       text,
  current_stage text,
  created_at    timestamptz,
  started_at    timestamptz,
  finished_at   timestamptz,
  deleted_at    timestamptz,
  input_tokens  bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  usd           numeric(14, 6) NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pipeline_runs_tenant ON pf.pipeline_runs (tenant_id, namespace, name);
CREATE INDEX pipeline_runs_finished ON pf.pipeline_runs (finished_at);

CREATE TABLE pf.stage_attempts (
  pipeline_uid  text NOT NULL,
  stage         text NOT NULL,
  attempt       integer NOT NULL CHECK (attempt >= 1),
  tenant_id     text NOT NULL,
  job           text,
  state         text NOT NULL,
  message       text,
  started_at    timestamptz,
  finished_at   timestamptz,
  seconds       double precision,
  input_tokens  bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  usd           numeric(14, 6) NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline_uid, stage, attempt)
);
CREATE INDEX stage_attempts_tenant ON pf.stage_attempts (tenant_id);

-- --- usage: one row per stage attempt that used an LLM (kept for billing) -----------------------
CREATE TABLE pf.usage (
  pipeline_uid  text NOT NULL,
  stage         text NOT NULL,
  attempt       integer NOT NULL,
  tenant_id     text NOT NULL,
  namespace     text NOT NULL,
  pipeline      text NOT NULL,
  input_tokens  bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  usd           numeric(14, 6) NOT NULL DEFAULT 0 CHECK (usd >= 0),
  recorded_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline_uid, stage, attempt)
);
CREATE INDEX usage_tenant_time ON pf.usage (tenant_id, recorded_at);

-- --- audit log ----------------------------------------------------------------------------------
CREATE TABLE pf.audit_logs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id      uuid NOT NULL UNIQUE,
  tenant_id     text NOT NULL,
  actor         text NOT NULL,
  action        text NOT NULL,
  resource_kind text NOT NULL,
  resource_name text NOT NULL,
  namespace     text,
  details       jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_tenant_time ON pf.audit_logs (tenant_id, created_at);

-- --- row-level security on every tenant-owned table ---------------------------------------------
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['blobs', 'artifacts', 'pipeline_runs', 'stage_attempts', 'usage',
                           'audit_logs'] LOOP
    EXECUTE pg_catalog.format('ALTER TABLE pf.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE pg_catalog.format('ALTER TABLE pf.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE pg_catalog.format(
      'CREATE POLICY tenant_rows ON pf.%I '
      'USING (tenant_id = (SELECT r.tenant_id FROM pf.tenant_roles r '
      '                    WHERE r.role_name = CURRENT_USER)) '
      'WITH CHECK (tenant_id = (SELECT r.tenant_id FROM pf.tenant_roles r '
      '                         WHERE r.role_name = CURRENT_USER))', t);
    EXECUTE pg_catalog.format(
      'CREATE POLICY operator_all ON pf.%I TO pf_figma_operator USING (true) WITH CHECK (true)', t);
  END LOOP;
END $$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA pf FROM PUBLIC;

-- The PostgreSQL schema and rows of the previous release (main at ca307ee), written by
-- pg_dump --inserts; tests/integration/test_release_upgrade.py loads it into a schema
-- of its own (public. is replaced) and upgrades it.
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;
CREATE FUNCTION public.trg_files_file_type_counts_delete() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN INSERT INTO "files_file_type_counts" ("file_type", "count") SELECT "file_type", -COUNT(*) FROM old_rows GROUP BY "file_type"; RETURN NULL; END$$;
CREATE FUNCTION public.trg_files_file_type_counts_insert() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN INSERT INTO "files_file_type_counts" ("file_type", "count") SELECT "file_type", COUNT(*) FROM new_rows GROUP BY "file_type"; RETURN NULL; END$$;
CREATE FUNCTION public.trg_files_file_type_counts_update() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN INSERT INTO "files_file_type_counts" ("file_type", "count") VALUES (OLD."file_type", -1), (NEW."file_type", 1); RETURN NULL; END$$;
CREATE FUNCTION public.trg_jobs_status_counts_delete() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN INSERT INTO "jobs_status_counts" ("status", "count") SELECT "status", -COUNT(*) FROM old_rows GROUP BY "status"; RETURN NULL; END$$;
CREATE FUNCTION public.trg_jobs_status_counts_insert() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN INSERT INTO "jobs_status_counts" ("status", "count") SELECT "status", COUNT(*) FROM new_rows GROUP BY "status"; RETURN NULL; END$$;
CREATE FUNCTION public.trg_jobs_status_counts_update() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN INSERT INTO "jobs_status_counts" ("status", "count") VALUES (OLD."status", -1), (NEW."status", 1); RETURN NULL; END$$;
SET default_tablespace = '';
SET default_table_access_method = heap;
CREATE TABLE public.files (
    id text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    job_id text NOT NULL,
    file_path text NOT NULL,
    file_type text NOT NULL,
    file_size bigint DEFAULT 0 NOT NULL,
    host text
);
CREATE TABLE public.files_file_type_counts (
    file_type text NOT NULL,
    count bigint NOT NULL
);
CREATE TABLE public.files_orphan_job_id (
    job_id text NOT NULL
);
CREATE TABLE public.jobs (
    id text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    url text NOT NULL,
    platform text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    title text,
    progress bigint DEFAULT 0 NOT NULL,
    current_operation text,
    error_message text,
    retry_count bigint DEFAULT 0 NOT NULL,
    bytes_downloaded bigint DEFAULT 0 NOT NULL,
    completed_at timestamp with time zone,
    worker_id text,
    lease_expires_at timestamp with time zone,
    next_attempt_at timestamp with time zone,
    format text,
    uploader text,
    duration bigint,
    upload_date text,
    extractor text,
    extractor_id text
)
WITH (fillfactor='85', autovacuum_vacuum_scale_factor='0.05', autovacuum_analyze_scale_factor='0.02');
CREATE TABLE public.jobs_status_counts (
    status text NOT NULL,
    count bigint NOT NULL
);
CREATE TABLE public.settings (
    key text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    value text
);
INSERT INTO public.files VALUES ('01a22e3b-de19-75cc-b5eb-1d0c10d8e148', '2026-11-30 20:53:25.145876+00', '2026-11-30 20:53:25.145876+00', '01a22e3b-de15-7fd0-8588-328f164dcb52', '/d/Never [dQw4w9WgXcQ].mp4', 'video', 1000, 'vm');
INSERT INTO public.files VALUES ('01a22e3b-de1a-7073-825b-b5d27f2b349b', '2026-11-30 20:53:25.146792+00', '2026-11-30 20:53:25.146792+00', '01a22e3b-de15-7fd0-8588-328f164dcb52', '/d/Never [dQw4w9WgXcQ].jpg', 'image', 10, 'vm');
INSERT INTO public.files_file_type_counts VALUES ('video', 1);
INSERT INTO public.files_file_type_counts VALUES ('image', 1);
INSERT INTO public.jobs VALUES ('01a22e3b-de15-7fd0-8588-328f164dcb52', '2026-11-30 20:53:25.141616+00', '2026-11-30 20:53:25.144837+00', 'https://www.youtube.com/watch?v=dQw4w9WgXcQ', 'youtube', 'completed', 'Never Gonna Give You Up', 100, NULL, NULL, 0, 0, '2026-11-30 20:53:25.144837+00', 'w1', NULL, NULL, '720p', 'Rick Astley', 213, '2009-10-25', 'Youtube', 'dQw4w9WgXcQ');
INSERT INTO public.jobs VALUES ('01a22e3b-de1d-72bb-aaef-39c33f4a29be', '2026-11-30 20:53:25.149396+00', '2026-11-30 20:53:25.149396+00', 'https://example.com/clip.mp4', 'other', 'pending', NULL, 0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.jobs VALUES ('01a22e3b-de1c-7f98-bcea-619cc6651572', '2026-11-30 20:53:25.148095+00', '2026-11-30 20:53:25.150326+00', 'https://youtu.be/aaaaaaaaaaa', 'youtube', 'running', NULL, 0, 'starting', NULL, 0, 0, NULL, 'w1', '2026-11-30 20:54:25.150336+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.jobs_status_counts VALUES ('pending', 1);
INSERT INTO public.jobs_status_counts VALUES ('pending', -1);
INSERT INTO public.jobs_status_counts VALUES ('running', 1);
INSERT INTO public.jobs_status_counts VALUES ('running', -1);
INSERT INTO public.jobs_status_counts VALUES ('completed', 1);
INSERT INTO public.jobs_status_counts VALUES ('pending', 1);
INSERT INTO public.jobs_status_counts VALUES ('pending', 1);
INSERT INTO public.jobs_status_counts VALUES ('pending', -1);
INSERT INTO public.jobs_status_counts VALUES ('running', 1);
ALTER TABLE ONLY public.files_orphan_job_id
    ADD CONSTRAINT files_orphan_job_id_pkey PRIMARY KEY (job_id);
ALTER TABLE ONLY public.files
    ADD CONSTRAINT files_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);
CREATE INDEX idx_files_created_at ON public.files USING btree (created_at, id);
CREATE INDEX idx_files_file_type ON public.files USING btree (file_type, created_at, id);
CREATE INDEX idx_files_job_id ON public.files USING btree (job_id, created_at);
CREATE INDEX idx_files_job_id_type ON public.files USING btree (job_id, file_type, created_at);
CREATE INDEX idx_jobs_active_created ON public.jobs USING btree (created_at, id) WHERE (status = ANY (ARRAY['pending'::text, 'running'::text, 'cancelling'::text]));
CREATE INDEX idx_jobs_created_at ON public.jobs USING btree (created_at, id);
CREATE INDEX idx_jobs_platform ON public.jobs USING btree (platform, created_at, id);
CREATE INDEX idx_jobs_search ON public.jobs USING gin (to_tsvector('simple'::regconfig, translate(((COALESCE(title, ''::text) || ' '::text) || COALESCE(url, ''::text)), '/.:=&-_#%+~@!,;()[]{}<>|*^$''"\`'::text, '                               '::text)));
CREATE INDEX idx_jobs_status ON public.jobs USING btree (status);
CREATE INDEX idx_jobs_status_created ON public.jobs USING btree (status, created_at, id);
CREATE INDEX idx_jobs_url_queued ON public.jobs USING btree (url) WHERE (status = ANY (ARRAY['pending'::text, 'running'::text]));
CREATE TRIGGER trg_files_file_type_counts_delete AFTER DELETE ON public.files REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.trg_files_file_type_counts_delete();
CREATE TRIGGER trg_files_file_type_counts_insert AFTER INSERT ON public.files REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.trg_files_file_type_counts_insert();
CREATE TRIGGER trg_files_file_type_counts_update AFTER UPDATE OF file_type ON public.files FOR EACH ROW WHEN ((old.file_type IS DISTINCT FROM new.file_type)) EXECUTE FUNCTION public.trg_files_file_type_counts_update();
CREATE TRIGGER trg_jobs_status_counts_delete AFTER DELETE ON public.jobs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.trg_jobs_status_counts_delete();
CREATE TRIGGER trg_jobs_status_counts_insert AFTER INSERT ON public.jobs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.trg_jobs_status_counts_insert();
CREATE TRIGGER trg_jobs_status_counts_update AFTER UPDATE OF status ON public.jobs FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION public.trg_jobs_status_counts_update();
ALTER TABLE ONLY public.files
    ADD CONSTRAINT files_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(id) ON DELETE CASCADE;

-- catalog.sql — the schema of KB/cairn.db, the system of record.
--
-- Schema version 1 (PRAGMA user_version; CC_SCHEMA_VERSION in core/core.h).
-- A change to this file appends a migration in core/kb_migrate.c and bumps
-- the version; existing KBs are migrated on open, never rebuilt by hand.
--
-- Offsets: *_char are code-point offsets into the document's extracted text
-- (for HTML the visible text); *_byte are the same positions in its UTF-8
-- bytes. Both are half-open [start, end).
--
-- Generations: every committed change to the corpus appends one row to
-- `changes`; its generation is the KB's version. Derived indexes (graph/,
-- vectors.faiss) record the generation they reflect and are caught up from
-- this log on open.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- One row per stored version of a document. The live version of a uri has
-- deleted = 0; replaced and deleted versions stay (deleted = 1) so that old
-- traces can still name what they cited; their chunks are removed.
CREATE TABLE documents (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  uri         TEXT    NOT NULL,           -- path, or the record id for JSON
  version     INTEGER NOT NULL,           -- 1, 2, ... per uri
  sha256      TEXT    NOT NULL,           -- of the raw input bytes
  format      TEXT    NOT NULL,           -- txt | md | html | json
  title       TEXT,
  meta        TEXT,                       -- JSON object (JSON fields, ...)
  bytes       INTEGER NOT NULL,           -- raw input size
  chars       INTEGER NOT NULL,           -- extracted text length, code points
  n_chunks    INTEGER NOT NULL,
  deleted     INTEGER NOT NULL DEFAULT 0,
  ingested_at TEXT    NOT NULL,           -- ISO 8601 UTC
  deleted_at  TEXT,
  generation  INTEGER NOT NULL            -- change that added it
);
CREATE UNIQUE INDEX documents_live_uri ON documents(uri) WHERE deleted = 0;
CREATE INDEX documents_uri ON documents(uri, version);

-- Chunks of live documents. Ids are never reused (AUTOINCREMENT): they are
-- the ids of the FTS5 rows, the FAISS vectors and the graph contexts.
CREATE TABLE chunks (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id      INTEGER NOT NULL REFERENCES documents(id),
  ordinal     INTEGER NOT NULL,           -- 0, 1, ... within the document
  section     TEXT,                       -- heading path ("Intro > Scope")
  start_char  INTEGER NOT NULL,
  end_char    INTEGER NOT NULL,
  start_byte  INTEGER NOT NULL,
  end_byte    INTEGER NOT NULL,
  n_tokens    INTEGER NOT NULL,           -- chunker's token estimate
  sha256      TEXT    NOT NULL,           -- of text
  text        TEXT    NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc_id, ordinal);

-- BM25 over chunk text and section titles (external content: no copy).
CREATE VIRTUAL TABLE chunks_fts USING fts5(
  text, section,
  content = 'chunks', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);

-- The change log. op 'add': doc_id's chunks [chunk_lo, chunk_hi] appeared;
-- op 'remove': they went away. chunk_lo > chunk_hi means no chunks.
CREATE TABLE changes (
  generation  INTEGER PRIMARY KEY AUTOINCREMENT,
  op          TEXT    NOT NULL CHECK (op IN ('add', 'remove')),
  doc_id      INTEGER NOT NULL,
  chunk_lo    INTEGER NOT NULL,
  chunk_hi    INTEGER NOT NULL,
  at          TEXT    NOT NULL
);

-- Knowledge graph record (graph/ is derived from these).
CREATE TABLE entities (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  key         TEXT    NOT NULL UNIQUE,    -- normalised name used for resolution
  label       TEXT    NOT NULL,           -- preferred display name
  type        TEXT    NOT NULL,           -- person|organisation|place|product|date|amount|other
  merged_into INTEGER REFERENCES entities(id)
);

CREATE TABLE aliases (
  entity_id   INTEGER NOT NULL REFERENCES entities(id),
  alias       TEXT    NOT NULL,
  norm        TEXT    NOT NULL,
  source      TEXT    NOT NULL,           -- label | acronym | apposition | suffix
  PRIMARY KEY (entity_id, norm)
) WITHOUT ROWID;

-- Entity names for seed matching (cg_subgraph_extract): one row per entity,
-- rowid = entities.id, its aliases joined by " | ".  Written with the
-- aliases (graph/derived.c: at the commit of their transaction), deleted
-- with the entity (retrieval/ingest.c).
CREATE VIRTUAL TABLE entity_names USING fts5(names, tokenize = 'unicode61 remove_diacritics 2');

CREATE TABLE mentions (
  id          INTEGER PRIMARY KEY,
  entity_id   INTEGER NOT NULL REFERENCES entities(id),
  chunk_id    INTEGER NOT NULL,
  start_char  INTEGER NOT NULL,           -- within the document
  end_char    INTEGER NOT NULL,
  surface     TEXT    NOT NULL,
  extractor   TEXT    NOT NULL,           -- "rules/1"
  confidence  REAL    NOT NULL
);
CREATE INDEX mentions_chunk ON mentions(chunk_id);
CREATE INDEX mentions_entity ON mentions(entity_id);

CREATE TABLE relations (
  id          INTEGER PRIMARY KEY,
  subject_id  INTEGER NOT NULL REFERENCES entities(id),
  predicate   TEXT    NOT NULL,
  object_id   INTEGER NOT NULL REFERENCES entities(id),
  chunk_id    INTEGER NOT NULL,
  start_char  INTEGER NOT NULL,           -- sentence span within the document
  end_char    INTEGER NOT NULL,
  pattern     TEXT    NOT NULL,           -- apposition | copula | svo | ...
  extractor   TEXT    NOT NULL,
  confidence  REAL    NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('confirmed', 'inferred'))
);
CREATE INDEX relations_chunk ON relations(chunk_id);
-- covering for subgraph expansion (graph/subgraph.c reads only these)
CREATE INDEX relations_subject ON relations(subject_id, object_id, predicate, chunk_id, confidence, status);
CREATE INDEX relations_object ON relations(object_id, subject_id, predicate, chunk_id, confidence, status);

-- Entity merges, each reversible (cairn graph split): one row per name
-- joined to an entity it does not name by itself (graph/derived.c).  A row
-- with undone_at set is a do-not-merge rule: ingestion sends that name
-- (its norm; for same_key, its exact surface) to a separate entity.
CREATE TABLE merges (
  id          INTEGER PRIMARY KEY,
  kept_id     INTEGER NOT NULL,           -- entity kept
  merged_id   INTEGER,                    -- entity merged into it; NULL: a surface form
  alias       TEXT    NOT NULL,           -- surface merged
  norm        TEXT    NOT NULL,           -- its resolution key
  reason      TEXT    NOT NULL,           -- same_key | acronym | apposition | alias
  chunk_id    INTEGER,                    -- evidence: where the merge was made
  start_char  INTEGER,                    -- the merged mention, document code points
  end_char    INTEGER,
  extractor   TEXT,
  at          TEXT    NOT NULL,
  undone_at   TEXT,
  split_id    INTEGER                     -- entity the split moved the name to
);
CREATE INDEX merges_kept ON merges(kept_id, norm);
CREATE INDEX aliases_norm ON aliases(norm);

-- Explainability traces: append-only, hash-chained (hash covers prev_hash
-- and json).
CREATE TABLE traces (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT    NOT NULL UNIQUE,
  created_at  TEXT    NOT NULL,
  caller      TEXT    NOT NULL,
  question    TEXT    NOT NULL,
  json        TEXT    NOT NULL,
  prev_hash   TEXT    NOT NULL,
  hash        TEXT    NOT NULL
);

CREATE TABLE api_keys (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL,
  role        TEXT    NOT NULL CHECK (role IN ('reader', 'writer', 'auditor', 'admin')),
  salt        TEXT    NOT NULL,
  hash        TEXT    NOT NULL,
  created_at  TEXT    NOT NULL,
  revoked_at  TEXT
);

CREATE TABLE audit (
  id          INTEGER PRIMARY KEY,
  at          TEXT    NOT NULL,
  actor       TEXT    NOT NULL,           -- "cli:<user>" or "key:<id>"
  action      TEXT    NOT NULL,           -- ingest | delete | trace.read | ...
  target      TEXT,
  detail      TEXT
);

-- LLM extractor runs (graph/extract_llm.c): one row per chunk read by an
-- LLM extractor, with the model's raw output.  A chunk with a row is not
-- read again by that extractor; a later chunk with the same text (a
-- replaced document's unchanged chunk) reuses the output instead of
-- running the model.  Rows outlive their chunks, as that cache.
CREATE TABLE llm_extractions (
  chunk_id      INTEGER NOT NULL,
  extractor     TEXT    NOT NULL,           -- "llm/1:<model sha256 prefix>"
  text_sha256   TEXT    NOT NULL,           -- chunks.sha256
  output        TEXT    NOT NULL,           -- the model's JSON, as generated
  prompt_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  ms            REAL    NOT NULL,           -- model time; 0 when reused
  at            TEXT    NOT NULL,
  PRIMARY KEY (chunk_id, extractor)
);
CREATE INDEX llm_extractions_text ON llm_extractions(extractor, text_sha256);

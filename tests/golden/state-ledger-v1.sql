-- A format-1 ledger as lethe wrote it before ledger entries (revision 0003): the census
-- example's run and one hold, made by that revision's code; only the ledger's rows are kept.
BEGIN TRANSACTION;
CREATE TABLE lethe_alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT lethe_alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "lethe_alembic_version" VALUES('0003');
CREATE TABLE lethe_batches (
	id VARCHAR(64) NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	policy VARCHAR(128) NOT NULL, 
	phase INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	payload JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE lethe_chain (
	id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "lethe_chain" VALUES(1,7,'db9161eb93d8d887566ec7164ceb3d5ded5cd8df07117b0859a268859a857c79');
CREATE TABLE lethe_deliveries (
	id INTEGER NOT NULL, 
	policy VARCHAR(128) NOT NULL, 
	dataset VARCHAR(128) NOT NULL, 
	item_key TEXT NOT NULL, 
	milestone VARCHAR(32) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	recipient_sha256 VARCHAR(64) NOT NULL, 
	message_id VARCHAR(255) NOT NULL, 
	attempts INTEGER NOT NULL, 
	claimed_at DATETIME NOT NULL, 
	claimed_by JSON NOT NULL, 
	delivered_at DATETIME, 
	error TEXT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_lethe_deliveries_item UNIQUE (policy, item_key, milestone)
);
CREATE TABLE lethe_events (
	seq INTEGER NOT NULL, 
	ts VARCHAR(40) NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	batch_id VARCHAR(64), 
	policy VARCHAR(128), 
	dataset VARCHAR(128), 
	phase INTEGER, 
	event VARCHAR(32) NOT NULL, 
	item_key TEXT, 
	details TEXT NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (seq)
);
INSERT INTO "lethe_events" VALUES(1,'2024-10-26T02:00:00+00:00','run-20261202T070423Z-146e0c','b-20261202T070423Z-df2266','data-governance','surveys',0,'soft_deleted','1','{"action":"soft_delete"}','0000000000000000000000000000000000000000000000000000000000000000','8d2e020a2fc714569c95d85c7f2cfaf8c46eb0bd23f4a1425b1fe97db85119e8');
INSERT INTO "lethe_events" VALUES(2,'2024-10-26T02:00:00+00:00','run-20261202T070423Z-146e0c','b-20261202T070423Z-df2266','data-governance','surveys',0,'skipped_hold','3','{"by":"hold_table","hold":"hold_table"}','8d2e020a2fc714569c95d85c7f2cfaf8c46eb0bd23f4a1425b1fe97db85119e8','32a7d9bad40f17ebe27c66ca65c469b832daa459b934e016fd07ffe0f05046ee');
INSERT INTO "lethe_events" VALUES(3,'2024-10-26T02:00:00+00:00','run-20261202T070423Z-146e0c','b-20261202T070423Z-788528','data-governance','surveys',1,'hard_deleted','2','{"action":"purge","cascade":{"surveys_surveyresponse":3}}','32a7d9bad40f17ebe27c66ca65c469b832daa459b934e016fd07ffe0f05046ee','d126b271d057db5b2db4c6c6fdfb5742ab5b949b4389b39a5c42e51c86fe6ba7');
INSERT INTO "lethe_events" VALUES(4,'2024-10-26T02:00:00+00:00','run-20261202T070423Z-146e0c','b-20261202T070423Z-788528','data-governance','surveys',1,'hard_deleted','7','{"action":"purge","cascade":{"surveys_legalhold":1,"surveys_surveyresponse":3}}','d126b271d057db5b2db4c6c6fdfb5742ab5b949b4389b39a5c42e51c86fe6ba7','a07d63b01e1666012835c6296b1d988d11953c9efabe903cf7a4d26132d48bd9');
INSERT INTO "lethe_events" VALUES(5,'2024-10-26T02:00:00+00:00','run-20261202T070423Z-146e0c','b-20261202T070423Z-788528','data-governance','surveys',1,'skipped_hold','4','{"by":"hold_table","hold":"hold_table"}','a07d63b01e1666012835c6296b1d988d11953c9efabe903cf7a4d26132d48bd9','80f8319bf0b6ad9e0bdceb1a9619457ed03e0adc16a304daa737294f42f8670f');
INSERT INTO "lethe_events" VALUES(6,'2024-10-26T02:00:00+00:00','run-20261202T070423Z-146e0c',NULL,NULL,NULL,NULL,'run_finished',NULL,'{"counts":{"surveys_legalhold":{"purge":1},"surveys_survey":{"purge":2,"soft_delete":1},"surveys_surveyresponse":{"purge":6}},"errors":0,"status":"succeeded"}','80f8319bf0b6ad9e0bdceb1a9619457ed03e0adc16a304daa737294f42f8670f','9feab7139b1bb1a6880b773d58a14abd40ef06977b47e200376936a4b71e28d7');
INSERT INTO "lethe_events" VALUES(7,'2024-10-26T02:00:00+00:00','-',NULL,NULL,'surveys',NULL,'hold_placed','6','{"by":"dpo","hold_id":1}','9feab7139b1bb1a6880b773d58a14abd40ef06977b47e200376936a4b71e28d7','db9161eb93d8d887566ec7164ceb3d5ded5cd8df07117b0859a268859a857c79');
CREATE TABLE lethe_holds (
	id INTEGER NOT NULL, 
	dataset VARCHAR(128) NOT NULL, 
	item_key TEXT NOT NULL, 
	reason TEXT NOT NULL, 
	placed_by VARCHAR(256) NOT NULL, 
	placed_at DATETIME NOT NULL, 
	released_at DATETIME, 
	released_by VARCHAR(256), 
	release_reason TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE lethe_jobs (
	name VARCHAR(128) NOT NULL, 
	paused BOOLEAN NOT NULL, 
	first_seen DATETIME NOT NULL, 
	changed_at DATETIME, 
	changed_by VARCHAR(256), 
	PRIMARY KEY (name)
);
CREATE TABLE lethe_runs (
	id VARCHAR(64) NOT NULL, 
	policies JSON NOT NULL, 
	dry_run BOOLEAN NOT NULL, 
	as_of DATETIME NOT NULL, 
	started_at DATETIME NOT NULL, 
	completed_at DATETIME, 
	status VARCHAR(16) NOT NULL, 
	record JSON, heartbeat_at DATETIME, lease_expires_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE lethe_slots (
	id INTEGER NOT NULL, 
	job VARCHAR(128) NOT NULL, 
	slot_utc DATETIME NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	covers INTEGER NOT NULL, 
	covers_from DATETIME, 
	run_id VARCHAR(64), 
	attempt INTEGER NOT NULL, 
	fence INTEGER NOT NULL, 
	"trigger" VARCHAR(32), 
	owner VARCHAR(256), 
	recorded_at DATETIME NOT NULL, 
	lease_expires_at DATETIME, 
	started_at DATETIME, 
	finished_at DATETIME, 
	note TEXT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_lethe_slots_job_slot UNIQUE (job, slot_utc)
);
CREATE INDEX ix_lethe_events_item ON lethe_events (dataset, item_key);
CREATE INDEX ix_lethe_events_run ON lethe_events (run_id);
CREATE INDEX ix_lethe_holds_active ON lethe_holds (dataset, item_key, released_at);
CREATE INDEX ix_lethe_batches_status ON lethe_batches (status);
CREATE INDEX ix_lethe_deliveries_item ON lethe_deliveries (dataset, item_key);
CREATE INDEX ix_lethe_slots_job_status ON lethe_slots (job, status);
CREATE INDEX ix_lethe_slots_run ON lethe_slots (run_id);
COMMIT;

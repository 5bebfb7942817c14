-- A results database written by normlab's store at schema version 1 (commit 65263e85761c),
-- dumped with sqlite3's iterdump; the two pragmas are the file header's, which a dump leaves out.
-- tests/test_store.py loads it to check that such a file is read as it is and upgraded.
PRAGMA application_id = 1313620290;
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE batch_losses (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    split TEXT NOT NULL CHECK (split IN ('train', 'val')),
    count INTEGER NOT NULL CHECK (count >= 0),
    encoding TEXT NOT NULL CHECK (encoding IN ('f32le', 'f32le+zlib')),
    data BLOB NOT NULL,
    UNIQUE (run_id, split)
);
INSERT INTO "batch_losses" VALUES(1,'train',3,'f32le',X'000010400000C03F0000403F');
INSERT INTO "batch_losses" VALUES(1,'val',2,'f32le',X'0000003F0000803E');
CREATE TABLE diagnostics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);
INSERT INTO "diagnostics" VALUES(1,'grad_norm','[0.5, 0.25]');
CREATE TABLE epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL CHECK (epoch >= 1),
    train_loss REAL,
    train_accuracy REAL,
    val_loss REAL,
    val_accuracy REAL,
    seconds REAL,
    train_seconds REAL,
    images_per_second REAL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
INSERT INTO "epochs" VALUES(1,1,1.5,0.8,0.375,0.85,10.0,8.0,7500.0);
INSERT INTO "epochs" VALUES(1,2,0.5,0.9,0.25,0.95,11.0,9.0,7600.0);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO "meta" VALUES('schema_version','1');
INSERT INTO "meta" VALUES('created_by','0.1.0');
INSERT INTO "meta" VALUES('application','normlab-results');
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    study TEXT NOT NULL,
    variant TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'diverged')),
    started_at REAL,
    finished_at REAL,
    message TEXT NOT NULL DEFAULT '',
    normlab_version TEXT,
    git_rev TEXT,
    torch_version TEXT,
    device TEXT,
    host TEXT,
    test_accuracy REAL,
    test_loss REAL,
    test_epoch INTEGER,
    val_split_name TEXT,
    diverged_epoch INTEGER,
    diverged_batch INTEGER,
    UNIQUE (study, config_hash)
);
INSERT INTO "runs" VALUES(1,'post','lenet5-bn',1,'a1','{"model": "lenet5-bn", "seed": 1}','done',1700000001.0,1700000101.0,'','0.1.0','65263e85761cc0ff27f8ec37d8bdaad81b231af3','2.13.0+cpu','cpu','lab-box-7',NULL,NULL,NULL,'test',NULL,NULL);
INSERT INTO "runs" VALUES(2,'post','lenet5',2,'b2','{"model": "lenet5", "seed": 2}','failed',1700000002.0,1700000102.0,'boom','0.1.0','65263e85761cc0ff27f8ec37d8bdaad81b231af3','2.13.0+cpu','cpu','lab-box-7',NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "runs" VALUES(3,'post','lenet5',3,'c3','{"model": "lenet5", "seed": 3}','running',1700000003.0,NULL,'','0.1.0','65263e85761cc0ff27f8ec37d8bdaad81b231af3','2.13.0+cpu','cpu','lab-box-7',NULL,NULL,NULL,NULL,NULL,NULL);
COMMIT;

-- Version 540: breach exercises (internal/exercise, docs/secops.md).
--
-- An exercise replays a labelled attack scenario into AIR. Its incidents
-- carry its id: correlation loads only the same exercise's incidents (and
-- real batches only real ones), the queue, metrics and reports leave them
-- out, and their remediations go to the lab tenant whatever the routes say.
CREATE TABLE exercises (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',   -- the scenario file it came from
    speed       DOUBLE PRECISION NOT NULL,  -- 1 real time, 60 a minute per second
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

ALTER TABLE incidents ADD COLUMN exercise_id BIGINT;
CREATE INDEX incidents_exercise ON incidents (exercise_id) WHERE exercise_id IS NOT NULL;

-- Each alert replayed, with its ground truth (label attack or benign, the
-- attack phase) and when it reached AIR: the score's times start there.
-- alert_id is the stored alert's id (the scenario's, prefixed per exercise).
CREATE TABLE exercise_alerts (
    exercise_id BIGINT NOT NULL,
    alert_id    TEXT NOT NULL,
    label       TEXT NOT NULL,
    phase       TEXT NOT NULL DEFAULT '',
    sent_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (exercise_id, alert_id)
);

-- The wait callmon expected for the caller when they entered the queue
-- (package predict), kept beside the wait that happened so the prediction's
-- error can be measured on real traffic. NULL: no prediction (direct calls,
-- calls adopted after a restart, no agent serving the queue).
ALTER TABLE call_records ADD COLUMN predicted_wait_ms integer CHECK (predicted_wait_ms >= 0);

---- create above / drop below ----

ALTER TABLE call_records DROP COLUMN predicted_wait_ms;

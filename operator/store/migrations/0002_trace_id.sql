-- issue 18: each pipeline row names its OpenTelemetry trace (status.traceID), when traced
ALTER TABLE pf.pipeline_runs ADD COLUMN trace_id text;

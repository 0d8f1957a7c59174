-- Whether this TimescaleDB's refresh_continuous_aggregate takes the options argument (batch size).
SELECT EXISTS (
    SELECT FROM pg_proc
    WHERE proname = 'refresh_continuous_aggregate' AND 'options' = ANY (proargnames)
)

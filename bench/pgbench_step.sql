-- One engine step's writes, for pgbench (bench/ceiling.py runs it): update the enrollment, insert the
-- message, insert two activities, in one transaction. Each client works through its own enrollments in
-- order (:client_id and its running :i pick the n-th), so no message collides on (enrollment, step).
-- Variables from pgbench -D: tenant, sequence, lead_prefix, enrollment_prefix (20 hex digits), per_client, i=0.
\set i :i + 1
\set n :client_id * :per_client + :i
BEGIN;
UPDATE lead_nurture_enrollments
   SET status = 'completed', next_step_on = NULL, ended_on = now(), lease_until = NULL, updated_at = now()
 WHERE id = (':enrollment_prefix' || lpad(to_hex(:n), 12, '0'))::uuid AND status = 'active';
INSERT INTO outbound_messages (id, tenant_id, enrollment_id, step_order, lead_id, sequence_id, to_email, subject,
                               body, status, drafter, queued_at, sent_at, message_id, attempts, created_at, updated_at)
VALUES (gen_random_uuid(), ':tenant', (':enrollment_prefix' || lpad(to_hex(:n), 12, '0'))::uuid, 1,
        (':lead_prefix' || lpad(to_hex(:n), 12, '0'))::uuid, ':sequence', 'lead' || :n || '@pgbench.test',
        'Hi Lead' || :n, 'Hello Lead' || :n || E' at Company,\n\nA short note about what we do.\n', 'sent',
        'template', now(), now(), '<' || gen_random_uuid() || '@pgbench.test>', 1, now(), now());
INSERT INTO activities (id, tenant_id, type, lead_id, enrollment_id, sequence_id, occurred_at, data)
VALUES (gen_random_uuid(), ':tenant', 'nurture_step_executed', (':lead_prefix' || lpad(to_hex(:n), 12, '0'))::uuid,
        (':enrollment_prefix' || lpad(to_hex(:n), 12, '0'))::uuid, ':sequence', now(), '{"step": 1, "channel": "email"}'),
       (gen_random_uuid(), ':tenant', 'message_sent', (':lead_prefix' || lpad(to_hex(:n), 12, '0'))::uuid,
        (':enrollment_prefix' || lpad(to_hex(:n), 12, '0'))::uuid, ':sequence', now(), '{"step": 1}');
END;

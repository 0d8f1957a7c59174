"""The public enrolment pages (remote enrolment of google_health participants; docs/enrolment.md)."""

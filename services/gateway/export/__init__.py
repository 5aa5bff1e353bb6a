"""A workspace as files (issue 16, backups and restore): `GET /api/v1/export` streams the caller's
workspace as a zip (originals, metadata, sessions, reflections, curation, a README), and
`atelier admin restore-workspace TENANT --from EXPORT.zip` (restore.py) brings one back through the
normal pipeline. The zip's layout is described in schemas.py and in the README.txt it carries."""

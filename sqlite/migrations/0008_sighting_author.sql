-- The commit author of a sighting found in git history ("Name <email>"),
-- so an incident report names who to reach. Empty for other sources.
ALTER TABLE sightings ADD COLUMN author TEXT NOT NULL DEFAULT '';

// Package store is memflow's persistence seam: one Store interface with two
// implementations, Postgres (pgx/v5) and an embedded SQLite file
// (modernc.org/sqlite). It also owns entity memory: the ten commands that
// change an entity document atomically, and queries over entity documents.
//
// store is a leaf: it imports nothing of the engine (no dsl, compiler or
// runtime). The runtime calls it; it never calls back.
//
// # Apps
//
// A store holds one app's data. On Postgres an app is a schema (SchemaName),
// so apps share a database and never see each other's rows. The schema
// records its app in its meta table like an SQLite file does, so the two app
// ids whose schema names coincide (team-a and team_a) are never both let in:
// the second is refused. An SQLite file
// holds exactly one app: provisioning records the app in the file's meta
// table (key 'app'), and opening the file for another app fails with
// `sqlite file "x.db" holds app "memflow", not "other"` before anything is
// written. (A file made before the meta table existed records the first app
// that opens it.) memflow's default file is therefore per app:
// .memflow/<app>.db.
package store

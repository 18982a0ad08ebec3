package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// CatalogueEntry is what serves new starts of one workflow name: the version
// that last loaded, or nothing when the name left the flows (Retired). Every
// engine sharing the database reads it, so a reload in one worker reaches
// `memflow start` in another process.
type CatalogueEntry struct {
	Name      string
	Version   string // the version new starts use (the last one loaded when retired)
	File      string
	LoadedAt  time.Time // when Version began serving
	Retired   bool
	RetiredAt *time.Time
}

// CatalogueChange is one workflow a load changed: From is "" for a new
// workflow, To is "" for a retired one.
type CatalogueChange struct {
	Name string `json:"name"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	File string `json:"file,omitempty"`
}

// LoadReport is one attempt to load the flow catalogue.
type LoadReport struct {
	ID      int64 // assigned by the store
	At      time.Time
	OK      bool
	Source  string            // who loaded, e.g. "host pid 42: flows/"
	Errors  []string          // file:line:col: message, when not OK
	Changes []CatalogueChange // what an OK load changed
}

// MaxLoadReports is how many load reports the store keeps (the newest).
const MaxLoadReports = 200

const catalogueCols = `name, version, file, loaded_at, retired, retired_at`

// RecordLoad implements Store.
func (s *sqlStore) RecordLoad(ctx context.Context, r LoadReport, serve []CatalogueEntry, retire []string) (int64, error) {
	if !r.OK && (len(serve) > 0 || len(retire) > 0) {
		return 0, fmt.Errorf("record load: a failed load cannot change the catalogue (%d to serve, %d to retire)", len(serve), len(retire))
	}
	for _, e := range serve {
		if e.Name == "" || e.Version == "" {
			return 0, fmt.Errorf("record load: catalogue entry name %q and version %q must not be empty", e.Name, e.Version)
		}
	}
	at := r.At
	if at.IsZero() {
		at = s.now()
	}
	errs, changes := r.Errors, r.Changes
	if errs == nil {
		errs = []string{}
	}
	if changes == nil {
		changes = []CatalogueChange{}
	}
	errsJSON, err := json.Marshal(errs)
	if err != nil {
		return 0, fmt.Errorf("record load: encode errors: %w", err)
	}
	changesJSON, err := json.Marshal(changes)
	if err != nil {
		return 0, fmt.Errorf("record load: encode changes: %w", err)
	}
	var id int64
	err = s.b.inTx(ctx, func(q querier) error {
		for _, e := range serve {
			loaded := e.LoadedAt
			if loaded.IsZero() {
				loaded = at
			}
			// A version that already serves keeps its loaded_at.
			_, err := q.exec(ctx, `INSERT INTO catalogue (name, version, file, loaded_at, retired, retired_at)
VALUES ($1, $2, $3, $4, $5, NULL)
ON CONFLICT (name) DO UPDATE SET version = excluded.version, file = excluded.file,
loaded_at = CASE WHEN catalogue.version = excluded.version AND catalogue.retired = $5
THEN catalogue.loaded_at ELSE excluded.loaded_at END,
retired = $5, retired_at = NULL`, e.Name, e.Version, e.File, s.d.timeArg(loaded), false)
			if err != nil {
				return fmt.Errorf("serve %s version %s: %w", e.Name, e.Version, err)
			}
		}
		for _, name := range retire {
			_, err := q.exec(ctx, `UPDATE catalogue SET retired = $2, retired_at = $3 WHERE name = $1 AND retired = $4`,
				name, true, s.d.timeArg(at), false)
			if err != nil {
				return fmt.Errorf("retire %s: %w", name, err)
			}
		}
		err := q.queryRow(ctx, `INSERT INTO load_reports (at, ok, source, errors, changes)
VALUES ($1, $2, $3, $4, $5) RETURNING id`, s.d.timeArg(at), r.OK, r.Source,
			s.d.jsonArg(errsJSON), s.d.jsonArg(changesJSON)).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert load report: %w", err)
		}
		_, err = q.exec(ctx, `DELETE FROM load_reports WHERE id NOT IN
(SELECT id FROM load_reports ORDER BY at DESC, id DESC LIMIT $1)`, MaxLoadReports)
		if err != nil {
			return fmt.Errorf("prune load reports: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record load: %w", err)
	}
	return id, nil
}

func scanCatalogueEntry(r row) (*CatalogueEntry, error) {
	var e CatalogueEntry
	var loaded, retired timeCol
	if err := r.Scan(&e.Name, &e.Version, &e.File, &loaded, &e.Retired, &retired); err != nil {
		return nil, err
	}
	e.LoadedAt, e.RetiredAt = loaded.t, retired.ptr()
	return &e, nil
}

// GetCatalogueEntry implements Store.
func (s *sqlStore) GetCatalogueEntry(ctx context.Context, name string) (*CatalogueEntry, error) {
	return getCatalogueEntry(ctx, s.b.pool(), name)
}

// GetCatalogueEntry implements Tx.
func (t *sqlTx) GetCatalogueEntry(ctx context.Context, name string) (*CatalogueEntry, error) {
	return getCatalogueEntry(ctx, t.q, name)
}

func getCatalogueEntry(ctx context.Context, q querier, name string) (*CatalogueEntry, error) {
	e, err := scanCatalogueEntry(q.queryRow(ctx, `SELECT `+catalogueCols+` FROM catalogue WHERE name = $1`, name))
	if isNoRows(err) {
		return nil, fmt.Errorf("catalogue entry %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("catalogue entry %q: %w", name, err)
	}
	return e, nil
}

// ListCatalogue implements Store.
func (s *sqlStore) ListCatalogue(ctx context.Context) ([]CatalogueEntry, error) {
	r, err := s.b.pool().query(ctx, `SELECT `+catalogueCols+` FROM catalogue ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list catalogue: %w", err)
	}
	defer r.Close()
	var out []CatalogueEntry
	for r.Next() {
		e, err := scanCatalogueEntry(r)
		if err != nil {
			return nil, fmt.Errorf("list catalogue: %w", err)
		}
		out = append(out, *e)
	}
	return out, r.Err()
}

// LoadReports implements Store.
func (s *sqlStore) LoadReports(ctx context.Context, limit int) ([]LoadReport, error) {
	if limit <= 0 {
		limit = 10
	}
	r, err := s.b.pool().query(ctx, `SELECT id, at, ok, source, errors, changes FROM load_reports
ORDER BY at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list load reports: %w", err)
	}
	defer r.Close()
	var out []LoadReport
	for r.Next() {
		var lr LoadReport
		var at timeCol
		var errs, changes json.RawMessage
		if err := r.Scan(&lr.ID, &at, &lr.OK, &lr.Source, jsonCol{&errs}, jsonCol{&changes}); err != nil {
			return nil, fmt.Errorf("list load reports: %w", err)
		}
		lr.At = at.t
		if err := json.Unmarshal(errs, &lr.Errors); err != nil {
			return nil, fmt.Errorf("list load reports: report %d errors: %w", lr.ID, err)
		}
		if err := json.Unmarshal(changes, &lr.Changes); err != nil {
			return nil, fmt.Errorf("list load reports: report %d changes: %w", lr.ID, err)
		}
		out = append(out, lr)
	}
	return out, r.Err()
}

//go:build tools

// Package deps pins the chosen dependencies in go.mod while the packages that use them are built; it is removed once each is imported for real.
package deps
import (
 _ "gopkg.in/yaml.v3"
 _ "github.com/expr-lang/expr"
 _ "github.com/jackc/pgx/v5"
 _ "github.com/jackc/pgx/v5/pgxpool"
 _ "github.com/santhosh-tekuri/jsonschema/v6"
 _ "github.com/fsnotify/fsnotify"
 _ "modernc.org/sqlite"
 _ "github.com/spf13/cobra"
)

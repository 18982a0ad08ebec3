package store

// Op names an entity command of the flow language.
type Op string

// The eleven entity commands (language.md section 4).
const (
	OpSet            Op = "set"            // replace the whole document (Path empty) or the value at Path
	OpMerge          Op = "merge"          // deep merge Value into the object at Path (empty: root)
	OpAppend         Op = "append"         // add Value to the end of the array at Path (created if missing)
	OpPrepend        Op = "prepend"        // add Value to the start of the array at Path (created if missing)
	OpRemove         Op = "remove"         // remove the array element at index Value (an integer) of Path
	OpIncrement      Op = "increment"      // add Value (a number) to the number at Path; missing counts as 0
	OpMultiply       Op = "multiply"       // multiply the number at Path by Value (a number); the path must hold a number
	OpToggle         Op = "toggle"         // flip the boolean at Path; missing counts as false
	OpSetIfNotExists Op = "setIfNotExists" // set Value at Path only when nothing is there
	OpDelete         Op = "delete"         // remove the field at Path
	OpGet            Op = "get"            // read Path (no change); used by the API
)

// Command is one entity command. Value is a decoded JSON value (nil, bool,
// float64/int64/json.Number, string, []any, map[string]any).
type Command struct {
	Op    Op
	Path  string
	Value any
}

package main

import (
	"strconv"
	"strings"

	"github.com/memflow/memflow/activities"
	"github.com/spf13/cobra"
)

// httpFlags are the flags of the commands that run activities (worker,
// run): the policy of the built-in http.request.
type httpFlags struct {
	allow   []string
	maxBody string
}

func (h *httpFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&h.allow, "http-allow", nil,
		"hosts http.request may reach: name, name:port, *.domain, address or CIDR (repeat or comma-separate); default public addresses and loopback; metadata and link-local addresses only through a CIDR inside them")
	cmd.Flags().StringVar(&h.maxBody, "http-max-body", "", "largest response body http.request reads, in bytes or with KiB/MiB (default 1MiB)")
}

// check returns the flags' bad values as a usage error.
func (h *httpFlags) check() error {
	if _, err := activities.NewRegistryWithHTTP(activities.HTTPPolicy{Allow: h.allow}); err != nil {
		return usageErr("--http-allow: %v", err)
	}
	_, err := h.maxBodyBytes()
	return err
}

// maxBodyBytes parses --http-max-body.
func (h *httpFlags) maxBodyBytes() (int64, error) { return parseSize("http-max-body", h.maxBody) }

// parseSize parses a size flag: "" (0), a number of bytes, or a number
// with a KiB, MiB or GiB suffix.
func parseSize(flag, value string) (int64, error) {
	s := strings.TrimSpace(value)
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, usageErr("--%s %q: want a positive size such as 1048576, 512KiB or 4MiB", flag, value)
	}
	return n * mult, nil
}

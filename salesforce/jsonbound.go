package salesforce

import (
	"fmt"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded"
)

// maxJSONDepth bounds the nesting of JSON bodies from Salesforce and its
// token endpoint, on top of the size limits they are read through
// (maxResponseBody, maxAuthBody). The deepest real bodies, query results
// with nested relationship subqueries and composite responses, nest a
// dozen levels; encoding/json alone goes to 10,000, building a value at
// every level.
const maxJSONDepth = 128

// checkJSON returns a permanent error matching [bounded.ErrTooLarge] when
// body, the response to what, nests deeper than maxJSONDepth: the same
// request would get the same body again. Every JSON body from outside goes
// through it (or jsonTooDeep) before json.Unmarshal: decode, parseAPIError,
// parseMatches, and the token, userinfo and OAuth error bodies of auth.go.
func checkJSON(what string, body []byte) error {
	if err := jsonTooDeep(what, body); err != nil {
		return sfsync.Permanent(err)
	}
	return nil
}

// jsonTooDeep is checkJSON's test without a classification, for callers
// that classify the failure themselves (a token response that cannot be
// read is an authentication failure).
func jsonTooDeep(what string, body []byte) error {
	if err := bounded.JSONDepth(body, maxJSONDepth); err != nil {
		return fmt.Errorf("salesforce: %s: response not decoded: %w", what, err)
	}
	return nil
}

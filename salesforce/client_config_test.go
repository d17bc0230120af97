package salesforce

import (
	"net/http"
	"testing"
)

// The HTTP client is set once, on the OAuth source, for token and REST
// calls alike; WithHTTPClient still overrides it for REST.
func TestClientTakesTheOAuthSourceHTTPClient(t *testing.T) {
	shared := &http.Client{}
	tokens := ClientCredentials(ClientCredentialsConfig{TokenURL: "https://example.my.salesforce.com", HTTPClient: shared})
	if got := New(tokens).cfg.hc; got != shared {
		t.Errorf("REST client = %p, want the OAuth source's %p", got, shared)
	}
	own := &http.Client{}
	if got := New(tokens, WithHTTPClient(own)).cfg.hc; got != own {
		t.Errorf("with WithHTTPClient: REST client = %p, want %p", got, own)
	}
	if got := New(ClientCredentials(ClientCredentialsConfig{TokenURL: "https://example.my.salesforce.com"})).cfg.hc; got != http.DefaultClient {
		t.Errorf("without either: REST client = %p, want http.DefaultClient", got)
	}
}

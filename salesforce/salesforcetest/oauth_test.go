package salesforcetest_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

func tokenRequest(t *testing.T, org *salesforcetest.Org, form map[string]string) (int, map[string]string) {
	t.Helper()
	v := url.Values{}
	for k, x := range form {
		v.Set(k, x)
	}
	res, err := org.Client().PostForm(org.URL()+"/services/oauth2/token", v)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]string
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

func signJWT(t *testing.T, key *rsa.PrivateKey, alg string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": alg, "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func checkToken(t *testing.T, org *salesforcetest.Org, out map[string]string) {
	t.Helper()
	if out["instance_url"] != org.URL() || out["token_type"] != "Bearer" || out["scope"] != "api" ||
		out["issued_at"] == "" || out["signature"] == "" ||
		out["id"] != org.URL()+"/id/"+org.OrgID()+"/"+org.IntegrationUserID() {
		t.Fatalf("token response %v", out)
	}
	callTok(t, org, out["access_token"], "GET", "/limits", nil).want(t, 200, "")
	// The token also works on Pub/Sub.
	ctx := pubsubCtx(t, org, out["access_token"])
	if _, err := pubsubClient(t, org).GetTopic(ctx, &eventbus.TopicRequest{TopicName: "/data/AccountChangeEvent"}); err != nil {
		t.Fatalf("pubsub with minted token: %v", err)
	}
}

func TestClientCredentials(t *testing.T) {
	org := newOrg(t)
	id, secret := org.ClientCredentials()
	code, out := tokenRequest(t, org, map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
	if code != 200 {
		t.Fatalf("status %d %v", code, out)
	}
	checkToken(t, org, out)
	code, out = tokenRequest(t, org, map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": "wrong"})
	if code != 400 || out["error"] != "invalid_client" || out["error_description"] == "" {
		t.Fatalf("bad secret %d %v", code, out)
	}
	code, out = tokenRequest(t, org, map[string]string{"grant_type": "password"})
	if code != 400 || out["error"] != "unsupported_grant_type" {
		t.Fatalf("password grant %d %v", code, out)
	}
}

func TestJWTBearer(t *testing.T) {
	clk := newClock()
	org := newOrg(t, salesforcetest.WithClock(clk.Now))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	org.RegisterJWTKey("consumer-key", &key.PublicKey, "sync@example.com")
	exp := clk.Now().Add(3 * time.Minute).Unix()
	good := map[string]any{"iss": "consumer-key", "sub": "sync@example.com", "aud": "https://login.salesforce.com", "exp": exp}
	grant := func(k *rsa.PrivateKey, alg string, claims map[string]any) (int, map[string]string) {
		return tokenRequest(t, org, map[string]string{"grant_type": salesforcetest.JWTBearerGrant, "assertion": signJWT(t, k, alg, claims)})
	}
	code, out := grant(key, "RS256", good)
	if code != 200 {
		t.Fatalf("status %d %v", code, out)
	}
	checkToken(t, org, out)
	for _, aud := range []string{org.URL(), "https://test.salesforce.com"} {
		c := clone(good)
		c["aud"] = aud
		if code, out := grant(key, "RS256", c); code != 200 {
			t.Fatalf("aud %s: %d %v", aud, code, out)
		}
	}
	// Within the 3 minute skew after exp: still accepted.
	clk.Advance(5 * time.Minute)
	if code, out := grant(key, "RS256", good); code != 200 {
		t.Fatalf("within skew %d %v", code, out)
	}
	clk.Advance(2 * time.Minute)
	bad := map[string]func() (int, map[string]string){
		"expired": func() (int, map[string]string) { return grant(key, "RS256", good) },
		"wrong key": func() (int, map[string]string) {
			return grant(other, "RS256", setClaim(good, "exp", clk.Now().Add(time.Minute).Unix()))
		},
		"alg": func() (int, map[string]string) {
			return grant(key, "RS512", setClaim(good, "exp", clk.Now().Add(time.Minute).Unix()))
		},
		"aud": func() (int, map[string]string) {
			return grant(key, "RS256", setClaim(setClaim(good, "exp", clk.Now().Add(time.Minute).Unix()), "aud", "https://evil.test"))
		},
		"sub": func() (int, map[string]string) {
			return grant(key, "RS256", setClaim(setClaim(good, "exp", clk.Now().Add(time.Minute).Unix()), "sub", "x@y"))
		},
		"iss": func() (int, map[string]string) {
			return grant(key, "RS256", setClaim(setClaim(good, "exp", clk.Now().Add(time.Minute).Unix()), "iss", "nope"))
		},
		"garbage": func() (int, map[string]string) {
			return tokenRequest(t, org, map[string]string{"grant_type": salesforcetest.JWTBearerGrant, "assertion": "a.b.c"})
		},
	}
	for name, f := range bad {
		if code, out := f(); code != 400 || out["error"] != "invalid_grant" || out["error_description"] == "" {
			t.Errorf("%s: %d %v", name, code, out)
		}
	}
}

func clone(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func setClaim(m map[string]any, k string, v any) map[string]any {
	out := clone(m)
	out[k] = v
	return out
}

func TestUserinfoAndExpiry(t *testing.T) {
	org := newOrg(t)
	get := func(tok string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", org.URL()+"/services/oauth2/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := org.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	old := org.AccessToken()
	code, info := get(old)
	if code != 200 || info["organization_id"] != org.OrgID() || info["user_id"] != org.IntegrationUserID() ||
		!strings.HasSuffix(info["sub"].(string), "/id/"+org.OrgID()+"/"+org.IntegrationUserID()) {
		t.Fatalf("userinfo %d %v", code, info)
	}
	org.ExpireTokens()
	if code, _ := get(old); code != 401 {
		t.Fatalf("expired userinfo %d", code)
	}
	callTok(t, org, old, "GET", "/limits", nil).want(t, 401, "INVALID_SESSION_ID")
	ctx := pubsubCtx(t, org, old)
	_, err := pubsubClient(t, org).GetTopic(ctx, &eventbus.TopicRequest{TopicName: "/data/AccountChangeEvent"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("pubsub with expired token: %v", err)
	}
	if org.AccessToken() == old {
		t.Fatal("AccessToken not rotated")
	}
	call(t, org, "GET", "/limits", nil).want(t, 200, "")
}

func TestWithOrgID(t *testing.T) {
	org := newOrg(t, salesforcetest.WithOrgID("00D5e000003TIrBEAW"))
	if !strings.HasPrefix(org.AccessToken(), "00D5e000003TIrB!") {
		t.Fatalf("token %s", org.AccessToken())
	}
	id := createAccount(t, org, map[string]any{"Name": "A"})
	sub := subscribe(t, org, salesforcetest.Topic("Account"))
	if e := sub.one(); e.header["entityName"] != "Account" || e.strs("recordIds")[0] != id {
		t.Fatalf("event %v", e.header)
	}
	if salesforcetest.Topic("Employee__c") != "/data/Employee__ChangeEvent" {
		t.Fatal(salesforcetest.Topic("Employee__c"))
	}
}

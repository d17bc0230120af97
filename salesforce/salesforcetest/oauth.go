package salesforcetest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// JWTBearerGrant is the grant_type of the OAuth 2.0 JWT bearer flow.
const JWTBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// jwtSkew is the clock skew Salesforce allows on exp.
const jwtSkew = 3 * time.Minute

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (o *Org) serveOAuth(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/services/oauth2/token":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			oauthErr(w, http.StatusMethodNotAllowed, "invalid_request", "must use HTTP POST")
			return
		}
		o.token(w, r)
	case "/services/oauth2/userinfo":
		o.userinfo(w, r)
	default:
		writeErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (o *Org) identityURL(user string) string {
	return o.srv.URL + "/id/" + o.cfg.orgID + "/" + user
}

func (o *Org) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, 400, "invalid_request", "invalid request body")
		return
	}
	var user string
	switch gt := r.PostForm.Get("grant_type"); gt {
	case JWTBearerGrant:
		u, desc := o.checkJWT(r.PostForm.Get("assertion"))
		if desc != "" {
			oauthErr(w, 400, "invalid_grant", desc)
			return
		}
		user = u
	case "client_credentials":
		id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if bid, bsecret, ok := r.BasicAuth(); ok && id == "" {
			id, secret = bid, bsecret
		}
		if id != o.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(o.clientSecret)) != 1 {
			oauthErr(w, 400, "invalid_client", "invalid client credentials")
			return
		}
		user = integrationUserID
	case "":
		oauthErr(w, 400, "invalid_request", "grant type is required")
		return
	default:
		oauthErr(w, 400, "unsupported_grant_type", "grant type not supported")
		return
	}
	o.mu.Lock()
	tok := o.mintLocked(user)
	o.mu.Unlock()
	issued := strconv.FormatInt(o.cfg.now().UnixMilli(), 10)
	id := o.identityURL(user)
	mac := hmac.New(sha256.New, []byte(o.clientSecret))
	mac.Write([]byte(id + issued))
	writeJSON(w, 200, map[string]string{
		"access_token": tok, "instance_url": o.srv.URL, "id": id, "token_type": "Bearer",
		"scope": "api", "issued_at": issued, "signature": base64.StdEncoding.EncodeToString(mac.Sum(nil)),
	})
}

// checkJWT verifies a JWT bearer assertion and returns its user, or the
// error_description of the failure.
func (o *Org) checkJWT(assertion string) (user, desc string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", "invalid assertion"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Prn string          `json:"prn"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
	}
	if !decodeSegment(parts[0], &hdr) || !decodeSegment(parts[1], &claims) {
		return "", "invalid assertion"
	}
	if hdr.Alg != "RS256" {
		return "", "invalid assertion"
	}
	o.mu.Lock()
	key, ok := o.jwtKeys[claims.Iss]
	o.mu.Unlock()
	if !ok {
		return "", "invalid client identifier"
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil {
		return "", "invalid assertion"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key.pub, crypto.SHA256, sum[:], sig) != nil {
		return "", "invalid assertion"
	}
	sub := claims.Sub
	if claims.Prn != "" {
		sub = claims.Prn
	}
	if sub != key.username {
		return "", "user hasn't approved this consumer"
	}
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(claims.Aud, &auds) != nil {
		return "", "audience is invalid"
	}
	audOK := false
	for _, a := range auds {
		a = strings.TrimSuffix(a, "/")
		if a == o.srv.URL || a == "https://login.salesforce.com" || a == "https://test.salesforce.com" {
			audOK = true
		}
	}
	if !audOK {
		return "", "audience is invalid"
	}
	exp, err := claims.Exp.Float64()
	if err != nil || claims.Exp == "" {
		return "", "invalid assertion"
	}
	if o.cfg.now().After(time.Unix(int64(exp), 0).Add(jwtSkew)) {
		return "", "expired authorization code"
	}
	return integrationUserID, ""
}

func decodeSegment(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	return dec.Decode(v) == nil
}

func (o *Org) userinfo(w http.ResponseWriter, r *http.Request) {
	user, ok := o.bearerUser(r)
	if !ok {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("Bad_OAuth_Token"))
		return
	}
	name, username := "Integration User", IntegrationUsername
	if user == uiUserID {
		name, username = "UI User", "ui@sfsync.test"
	}
	writeJSON(w, 200, map[string]any{
		"sub": o.identityURL(user), "user_id": user, "organization_id": o.cfg.orgID,
		"preferred_username": username, "nickname": username, "name": name, "email": username,
		"email_verified": true, "zoneinfo": "GMT", "locale": "en_US", "active": true, "user_type": "STANDARD",
		"urls": map[string]string{
			"rest":     o.srv.URL + "/services/data/v{version}/",
			"sobjects": o.srv.URL + "/services/data/v{version}/sobjects/",
			"query":    o.srv.URL + "/services/data/v{version}/query/",
		},
	})
}

package salesforcetest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sfsync/sfsync/internal/eventbus"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// Real instance URLs and the Pub/Sub endpoint are TLS only: so is the
// fake org, each with certificates of its own, and the instance URL the
// OAuth response carries is https://.
func TestTLSByDefault(t *testing.T) {
	org := newOrg(t)
	other := newOrg(t)
	if !strings.HasPrefix(org.URL(), "https://") || org.ClientTLSConfig() == nil || org.CertPool() == nil {
		t.Fatalf("URL %s, TLS config %v", org.URL(), org.ClientTLSConfig())
	}
	id, secret := org.ClientCredentials()
	status, tok := tokenRequest(t, org, map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
	if status != 200 || tok["instance_url"] != org.URL() || !strings.HasPrefix(tok["id"], "https://") {
		t.Fatalf("token response %d %v", status, tok)
	}
	for name, c := range map[string]*http.Client{"the system roots": http.DefaultClient, "another org's client": other.Client()} {
		if res, err := c.Get(org.URL() + "/services/data"); err == nil {
			res.Body.Close()
			t.Errorf("a client trusting %s reached the org", name)
		}
	}
	getTopic := func(tlsOrg *salesforcetest.Org) error {
		conn, err := grpc.NewClient(org.PubSub().Addr(), grpc.WithTransportCredentials(credentials.NewTLS(tlsOrg.ClientTLSConfig())))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = eventbus.NewPubSubClient(conn).GetTopic(pubsubCtx(t, org, org.AccessToken()), &eventbus.TopicRequest{TopicName: salesforcetest.TopicAll})
		return err
	}
	if err := getTopic(org); err != nil {
		t.Fatalf("Pub/Sub over TLS: %v", err)
	}
	if err := getTopic(other); err == nil {
		t.Fatal("a client trusting another org reached the org's Pub/Sub API")
	}

	plain := newOrg(t, salesforcetest.WithPlaintext())
	if !strings.HasPrefix(plain.URL(), "http://") || plain.ClientTLSConfig() != nil || plain.CertPool() != nil {
		t.Fatalf("plaintext org: URL %s", plain.URL())
	}
	call(t, plain, "GET", "/limits", nil).want(t, 200, "")
	if _, err := pubsubClient(t, plain).GetTopic(pubsubCtx(t, plain, plain.AccessToken()), &eventbus.TopicRequest{TopicName: salesforcetest.TopicAll}); err != nil {
		t.Fatalf("plaintext Pub/Sub: %v", err)
	}
}

// The Pub/Sub API takes the org id in either length as tenantid; the
// multi-entity channel has no single schema and change events cannot be
// published.
func TestPubSubTenantAndChangeEventChannel(t *testing.T) {
	org := newOrg(t)
	c := pubsubClient(t, org)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "accesstoken", org.AccessToken(),
		"instanceurl", org.URL(), "tenantid", org.OrgID()[:15])
	info, err := c.GetTopic(ctx, &eventbus.TopicRequest{TopicName: salesforcetest.TopicAll})
	if err != nil {
		t.Fatalf("15-character tenantid: %v", err)
	}
	if info.GetSchemaId() != "" || info.GetCanPublish() || !info.GetCanSubscribe() {
		t.Fatalf("GetTopic(%s) = %v", salesforcetest.TopicAll, info)
	}
	one, err := c.GetTopic(ctx, &eventbus.TopicRequest{TopicName: salesforcetest.Topic("Contact")})
	if err != nil || one.GetSchemaId() == "" || one.GetCanPublish() {
		t.Fatalf("GetTopic(Contact) = %v, %v", one, err)
	}
	_, err = c.Publish(ctx, &eventbus.PublishRequest{TopicName: salesforcetest.Topic("Contact"),
		Events: []*eventbus.ProducerEvent{{Id: "x", SchemaId: one.GetSchemaId(), Payload: []byte{0}}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("publishing a change event: %v, want PermissionDenied", err)
	}
}

// Pub/Sub clients look a managed subscription up through the Tooling API
// before subscribing; the org answers from its Pub/Sub fake, and the id it
// gives names the subscription to ManagedSubscribe.
func TestToolingManagedEventSubscription(t *testing.T) {
	org := newOrg(t)
	topic := salesforcetest.Topic("Contact")
	subID := org.PubSub().AddManagedSubscription("Contact_Sync", topic)
	org.PubSub().AddManagedSubscription("Other_Sync", topic)
	query := func(soql string) resp {
		return call(t, org, "GET", "/tooling/query/?q="+url.QueryEscape(soql), nil)
	}
	type record struct {
		Attributes    map[string]string `json:"attributes"`
		ID            string            `json:"Id"`
		DeveloperName string            `json:"DeveloperName"`
		Metadata      struct {
			TopicName string `json:"topicName"`
			State     string `json:"state"`
		} `json:"Metadata"`
	}
	type result struct {
		Size      int      `json:"size"`
		TotalSize int      `json:"totalSize"`
		Done      bool     `json:"done"`
		Records   []record `json:"records"`
	}
	for _, soql := range []string{
		"SELECT Id, DeveloperName, Metadata FROM ManagedEventSubscription WHERE DeveloperName = 'Contact_Sync' LIMIT 1",
		"SELECT Id, DeveloperName, Metadata FROM ManagedEventSubscription WHERE Id='" + subID[:15] + "' LIMIT 1",
		"select Id, DeveloperName, Metadata from ManagedEventSubscription where Id = '" + subID + "'",
	} {
		r := query(soql)
		r.want(t, 200, "")
		var got result
		r.json(t, &got)
		if got.Size != 1 || got.TotalSize != 1 || !got.Done || len(got.Records) != 1 {
			t.Fatalf("%s: %s", soql, r.body)
		}
		rec := got.Records[0]
		if rec.ID != subID || rec.DeveloperName != "Contact_Sync" || rec.Metadata.TopicName != topic ||
			rec.Metadata.State != "RUN" || rec.Attributes["type"] != "ManagedEventSubscription" {
			t.Fatalf("%s: %+v", soql, rec)
		}
	}
	var all result
	query("SELECT Id FROM ManagedEventSubscription").json(t, &all)
	if all.Size != 2 {
		t.Fatalf("all subscriptions: %+v", all)
	}
	var none result
	query("SELECT Id FROM ManagedEventSubscription WHERE DeveloperName = 'Nope'").json(t, &none)
	if none.Size != 0 || none.Records == nil {
		t.Fatalf("no match: %+v", none)
	}
	query("SELECT Id FROM ManagedEventSubscription WHERE").want(t, 400, "MALFORMED_QUERY")
	query("SELECT Nope FROM ManagedEventSubscription").want(t, 400, "INVALID_FIELD")
	query("SELECT Id FROM Account").want(t, 400, "INVALID_TYPE")
	call(t, org, "GET", "/query?q="+url.QueryEscape("SELECT Id FROM ManagedEventSubscription"), nil).want(t, 400, "INVALID_TYPE")

	// The id the Tooling API gave names the subscription.
	org.Insert("Contact", map[string]any{"LastName": "Tooling"})
	ms, err := pubsubClient(t, org).ManagedSubscribe(pubsubCtx(t, org, org.AccessToken()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Send(&eventbus.ManagedFetchRequest{SubscriptionId: subID[:15], NumRequested: 1}); err != nil {
		t.Fatal(err)
	}
	if res, err := ms.Recv(); err != nil || len(res.GetEvents()) != 1 {
		t.Fatalf("ManagedSubscribe by the Tooling id: %v, %v", res, err)
	}
}

package pubsub_test

import (
	"fmt"

	"github.com/sfsync/sfsync/pubsub"
)

func ExampleDecodeFieldBitmap() {
	// A trimmed AccountChangeEvent schema: the header, then the record
	// fields in Salesforce's order.
	schema := `{"type":"record","name":"AccountChangeEvent","namespace":"com.sforce.eventbus","fields":[
		{"name":"ChangeEventHeader","type":{"type":"record","name":"ChangeEventHeader","fields":[]}},
		{"name":"Name","type":["null","string"],"default":null},
		{"name":"Industry","type":["null","string"],"default":null},
		{"name":"BillingAddress","type":["null",{"type":"record","name":"Address","fields":[
			{"name":"Street","type":["null","string"],"default":null},
			{"name":"City","type":["null","string"],"default":null}]}],"default":null},
		{"name":"LastModifiedDate","type":["null","long"],"default":null}]}`

	names, err := pubsub.DecodeFieldBitmap(schema, []string{"0x14", "3-0x02"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(names)
	// Output: [Industry LastModifiedDate BillingAddress.City]
}

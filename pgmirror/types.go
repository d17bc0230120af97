package pgmirror

import (
	"strings"

	"github.com/sfsync/sfsync/salesforce"
	"github.com/sfsync/sfsync/sync"
)

// TypesFrom chooses the column type of each field of mapping from the
// Salesforce field types in d, the describe of the mapping's object (see
// salesforce.Client.Describe), for [Table.Types]: numeric for int, long,
// double, currency and percent; boolean; date; timestamptz for datetime;
// jsonb for compound values (address, location) and anyType; text for the
// rest (ids, references, strings, picklists, time, base64). A field d does
// not describe is left out, so its column is text. Set or override an
// entry of the map returned to choose another type.
func TypesFrom(mapping *sync.Mapping, d *salesforce.ObjectDescribe) map[string]Type {
	out := map[string]Type{}
	if mapping == nil || d == nil {
		return out
	}
	for _, f := range mapping.Fields {
		for i := range d.Fields {
			if strings.EqualFold(d.Fields[i].Name, f.Salesforce) {
				out[f.External] = columnType(&d.Fields[i])
				break
			}
		}
	}
	return out
}

func columnType(f *salesforce.FieldDescribe) Type {
	switch f.Kind() {
	case salesforce.ValueBool:
		return Boolean
	case salesforce.ValueInt, salesforce.ValueNumber:
		return Numeric
	case salesforce.ValueDate:
		return Date
	case salesforce.ValueDateTime:
		return Timestamp
	case salesforce.ValueAny:
		if strings.EqualFold(string(f.Type), "base64") {
			return Text // base64 text, not a structure
		}
		return JSON
	}
	return Text
}

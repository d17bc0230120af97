package cdcschema

// AccountFields are Account's CDC fields in the order of the CDC
// developer guide's examples: BillingAddress is position 4, Fax 7, Industry
// 11 and LastModifiedDate 22, so the guide's bitmaps decode as stated.
func AccountFields() []Field {
	return []Field{
		{"Name", SwitchableName}, {"Type", String}, {"ParentId", String},
		{"BillingAddress", Address}, {"ShippingAddress", Address},
		{"Phone", String}, {"Fax", String}, {"AccountNumber", String}, {"Website", String},
		{"Sic", String}, {"Industry", String}, {"AnnualRevenue", Double},
		{"NumberOfEmployees", Int}, {"Ownership", String}, {"TickerSymbol", String},
		{"Description", String}, {"Rating", String}, {"Site", String}, {"OwnerId", String},
		{"CreatedDate", DateTime}, {"CreatedById", String}, {"LastModifiedDate", DateTime},
		{"LastModifiedById", String}, {"Jigsaw", String}, {"JigsawCompanyId", String},
		{"CleanStatus", String}, {"AccountSource", String}, {"DunsNumber", String},
		{"Tradestyle", String}, {"NaicsCode", String}, {"NaicsDesc", String},
		{"YearStarted", String}, {"SicDesc", String}, {"DandbCompanyId", String},
		{"OperatingHoursId", String}, {"CustomerPriority__c", String}, {"SLA__c", String},
		{"Active__c", String}, {"NumberofLocations__c", Double}, {"UpsellOpportunity__c", String},
		{"SLASerialNumber__c", String}, {"SLAExpirationDate__c", Date}, {"External_Id__c", String},
	}
}

// ContactFields are Contact's CDC fields, with the PersonName and two
// addresses.
func ContactFields() []Field {
	return []Field{
		{"AccountId", String}, {"Name", PersonName}, {"OtherAddress", Address},
		{"MailingAddress", Address}, {"Phone", String}, {"Fax", String}, {"MobilePhone", String},
		{"HomePhone", String}, {"OtherPhone", String}, {"AssistantPhone", String},
		{"ReportsToId", String}, {"Email", String}, {"Title", String}, {"Department", String},
		{"AssistantName", String}, {"LeadSource", String}, {"Birthdate", Date},
		{"Description", String}, {"OwnerId", String}, {"HasOptedOutOfEmail", Boolean},
		{"HasOptedOutOfFax", Boolean}, {"DoNotCall", Boolean}, {"CreatedDate", DateTime},
		{"CreatedById", String}, {"LastModifiedDate", DateTime}, {"LastModifiedById", String},
		{"LastCURequestDate", DateTime}, {"LastCUUpdateDate", DateTime},
		{"EmailBouncedReason", String}, {"EmailBouncedDate", DateTime}, {"Jigsaw", String},
		{"JigsawContactId", String}, {"CleanStatus", String}, {"IndividualId", String},
		{"Level__c", String}, {"Languages__c", String}, {"External_Id__c", String},
		{"GenderIdentity", String}, {"Pronouns", String}, {"ContactSource", String},
		{"TitleType", String}, {"DepartmentGroup", String}, {"BuyerAttributes", String},
	}
}

// EmployeeFields are the CDC fields of a custom object Employee__c with a
// geolocation field.
func EmployeeFields() []Field {
	fields := []Field{
		{"OwnerId", String}, {"Name", String}, {"CreatedDate", DateTime}, {"CreatedById", String},
		{"LastModifiedDate", DateTime}, {"LastModifiedById", String},
		{"Office__c", Location}, {"Hired__c", Date}, {"Salary__c", Double}, {"Active__c", Boolean},
		{"Grade__c", Int}, {"Email__c", String}, {"Manager__c", String}, {"Bio__c", String},
	}
	for _, n := range []string{"Badge", "Desk", "Team", "Level", "Region", "Cost_Center", "Skill_1", "Skill_2",
		"Skill_3", "Skill_4", "Skill_5", "Notes", "Phone", "Mobile", "Title", "Status", "Source", "Start",
		"Shift", "Locker", "Parking", "Vehicle", "Pager", "Extension", "Floor", "Building", "Locale"} {
		fields = append(fields, Field{n + "__c", String})
	}
	return fields
}

"""The Mina meddelanden wire: hardened XML, v3 documents, sign and seal, verify, SOAP.

Both the connector and the embedded reference infrastructure speak through this package;
it depends on nothing else in Utskick, so that each side can trust it as the shared contract.
"""

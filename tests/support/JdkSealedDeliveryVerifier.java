/*
 * An independent verifier of a Mina meddelanden deliverSecure request, written on the JDK's own
 * XML signature implementation (javax.xml.crypto.dsig, Apache Santuario inside the JDK).
 *
 * It shares nothing with Utskick: not the parser, not the canonicaliser, not the digest code.
 * It reads a request the way a Java-based mailbox operator does:
 *
 *   1. parse the raw request (namespace aware, no DOCTYPE) and look the signatures up in it, by
 *      namespace (getElementsByTagNameNS) and by their qualified name `ds:Signature`
 *      (getElementsByTagName), and report what it finds;
 *   2. strip every namespace prefix (each element that changes namespace gets a default
 *      namespace declaration instead) and give the wire element deliverSecure back its name
 *      SealedDelivery, as the operators do;
 *   3. verify the seal over the whole SealedDelivery, then the sender's signature over the
 *      SignedDelivery taken as a document of its own, both with Reference URI="" resolved by
 *      the JDK, the key taken from the certificate in KeyInfo;
 *   4. optionally check that each signer's certificate was issued by a given CA and is valid now.
 *
 * Run: java JdkSealedDeliveryVerifier.java request.xml [ca.pem]
 * Prints one line per finding; exits 0 when both signatures verify, 1 otherwise.
 */

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.PublicKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import javax.security.auth.x500.X500Principal;
import javax.xml.XMLConstants;
import javax.xml.crypto.AlgorithmMethod;
import javax.xml.crypto.KeySelector;
import javax.xml.crypto.KeySelectorException;
import javax.xml.crypto.KeySelectorResult;
import javax.xml.crypto.XMLCryptoContext;
import javax.xml.crypto.dsig.Reference;
import javax.xml.crypto.dsig.XMLSignature;
import javax.xml.crypto.dsig.XMLSignatureFactory;
import javax.xml.crypto.dsig.dom.DOMValidateContext;
import javax.xml.crypto.dsig.keyinfo.KeyInfo;
import javax.xml.crypto.dsig.keyinfo.X509Data;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;

import org.w3c.dom.Attr;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

public class JdkSealedDeliveryVerifier {

    static final String SERVICE_V3 = "http://minameddelanden.gov.se/schema/Service/v3";
    static final String MESSAGE_V3 = "http://minameddelanden.gov.se/schema/Message/v3";
    static final String XMLNS = XMLConstants.XMLNS_ATTRIBUTE_NS_URI;

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: java JdkSealedDeliveryVerifier.java request.xml [ca.pem]");
            System.exit(2);
        }
        X509Certificate ca = args.length > 1 ? readCertificate(Path.of(args[1])) : null;
        Document raw = parse(Files.readAllBytes(Path.of(args[0])));

        NodeList byNamespace = raw.getElementsByTagNameNS(XMLSignature.XMLNS, "Signature");
        List<String> prefixes = new ArrayList<>();
        for (int i = 0; i < byNamespace.getLength(); i++) {
            String prefix = byNamespace.item(i).getPrefix();
            prefixes.add(prefix == null ? "(none)" : prefix);
        }
        System.out.println("RAW-BY-NAMESPACE " + byNamespace.getLength() + " " + prefixes);
        System.out.println("RAW-BY-QNAME ds:Signature " + raw.getElementsByTagName("ds:Signature").getLength());

        Document sealed = reparse(strippedSealedDelivery(raw));
        boolean sealOk = verify(sealed, "SEAL", ca);
        Element signedDelivery = firstElementChild(sealed.getDocumentElement());
        boolean senderOk = verify(reparse(standalone(signedDelivery)), "SENDER", ca);
        System.exit(sealOk && senderOk ? 0 : 1);
    }

    /** The inner deliverSecure's children under a prefix-free SealedDelivery of their own. */
    static Document strippedSealedDelivery(Document raw) throws Exception {
        Element inner = null;
        NodeList found = raw.getElementsByTagNameNS(SERVICE_V3, "deliverSecure");
        for (int i = 0; i < found.getLength(); i++) {
            Node parent = found.item(i).getParentNode();
            if (SERVICE_V3.equals(parent.getNamespaceURI()) && "deliverSecure".equals(parent.getLocalName())) {
                inner = (Element) found.item(i);
            }
        }
        if (inner == null) {
            throw new IllegalArgumentException("no deliverSecure/deliverSecure in the request");
        }
        Document document = newBuilder().newDocument();
        Element root = document.createElementNS(MESSAGE_V3, "SealedDelivery");
        root.setAttributeNS(XMLNS, "xmlns", MESSAGE_V3);
        document.appendChild(root);
        for (Node child = inner.getFirstChild(); child != null; child = child.getNextSibling()) {
            copyWithoutPrefixes(child, root, MESSAGE_V3);
        }
        return document;
    }

    static void copyWithoutPrefixes(Node source, Element parent, String parentNamespace) {
        Document document = parent.getOwnerDocument();
        if (source.getNodeType() == Node.TEXT_NODE || source.getNodeType() == Node.CDATA_SECTION_NODE) {
            parent.appendChild(document.createTextNode(source.getNodeValue()));
            return;
        }
        if (source.getNodeType() != Node.ELEMENT_NODE) {
            return; // comments are not part of the digest (C14N without comments)
        }
        String namespace = source.getNamespaceURI();
        Element copy = document.createElementNS(namespace, source.getLocalName());
        if (namespace != null && !namespace.equals(parentNamespace)) {
            copy.setAttributeNS(XMLNS, "xmlns", namespace);
        }
        NamedNodeMap attributes = source.getAttributes();
        for (int i = 0; i < attributes.getLength(); i++) {
            Attr attribute = (Attr) attributes.item(i);
            if (XMLNS.equals(attribute.getNamespaceURI())) {
                continue; // the prefixes' declarations go with the prefixes
            }
            if (attribute.getNamespaceURI() == null) {
                copy.setAttributeNS(null, attribute.getLocalName(), attribute.getValue());
            } else {
                copy.setAttributeNS(attribute.getNamespaceURI(), attribute.getName(), attribute.getValue());
            }
        }
        parent.appendChild(copy);
        for (Node child = source.getFirstChild(); child != null; child = child.getNextSibling()) {
            copyWithoutPrefixes(child, copy, namespace);
        }
    }

    /** An element as the root of a document of its own, declaring its namespace itself. */
    static Document standalone(Element element) throws Exception {
        Document document = newBuilder().newDocument();
        Element root = (Element) document.importNode(element, true);
        root.setAttributeNS(XMLNS, "xmlns", element.getNamespaceURI());
        document.appendChild(root);
        return document;
    }

    static boolean verify(Document document, String what, X509Certificate ca) throws Exception {
        Element root = document.getDocumentElement();
        Element signature = lastElementChild(root);
        if (signature == null || !XMLSignature.XMLNS.equals(signature.getNamespaceURI())
                || !"Signature".equals(signature.getLocalName())) {
            System.out.println(what + " INVALID the last child of " + root.getLocalName() + " is not a Signature");
            return false;
        }
        CertificateKeySelector keys = new CertificateKeySelector();
        DOMValidateContext context = new DOMValidateContext(keys, signature);
        context.setProperty("org.jcp.xml.dsig.secureValidation", Boolean.TRUE);
        XMLSignature xmlSignature = XMLSignatureFactory.getInstance("DOM").unmarshalXMLSignature(context);
        if (!xmlSignature.validate(context)) {
            StringBuilder reasons = new StringBuilder();
            if (!xmlSignature.getSignatureValue().validate(context)) {
                reasons.append(" signature-value");
            }
            for (Object reference : xmlSignature.getSignedInfo().getReferences()) {
                if (!((Reference) reference).validate(context)) {
                    reasons.append(" digest(URI=\"").append(((Reference) reference).getURI()).append("\")");
                }
            }
            System.out.println(what + " INVALID" + reasons);
            return false;
        }
        X509Certificate signer = keys.certificate;
        String subject = signer.getSubjectX500Principal().getName(X500Principal.RFC2253, Map.of("2.5.4.5", "SERIALNUMBER"));
        String trust = "";
        if (ca != null) {
            try {
                signer.verify(ca.getPublicKey());
                signer.checkValidity();
                trust = " TRUSTED";
            } catch (Exception error) {
                System.out.println(what + " UNTRUSTED " + subject + ": " + error);
                return false;
            }
        }
        System.out.println(what + " VALID" + trust + " " + subject);
        return true;
    }

    /** The key of the X509Certificate in the signature's own KeyInfo (trust is checked apart). */
    static final class CertificateKeySelector extends KeySelector {
        X509Certificate certificate;

        @Override
        public KeySelectorResult select(KeyInfo keyInfo, Purpose purpose, AlgorithmMethod method,
                XMLCryptoContext context) throws KeySelectorException {
            if (keyInfo == null) {
                throw new KeySelectorException("no KeyInfo");
            }
            for (Object item : keyInfo.getContent()) {
                if (!(item instanceof X509Data)) {
                    continue;
                }
                for (Object content : ((X509Data) item).getContent()) {
                    if (content instanceof X509Certificate) {
                        certificate = (X509Certificate) content;
                        PublicKey key = certificate.getPublicKey();
                        return () -> (Key) key;
                    }
                }
            }
            throw new KeySelectorException("no X509Certificate in KeyInfo");
        }
    }

    static Element firstElementChild(Element parent) {
        for (Node child = parent.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child.getNodeType() == Node.ELEMENT_NODE) {
                return (Element) child;
            }
        }
        return null;
    }

    static Element lastElementChild(Element parent) {
        for (Node child = parent.getLastChild(); child != null; child = child.getPreviousSibling()) {
            if (child.getNodeType() == Node.ELEMENT_NODE) {
                return (Element) child;
            }
        }
        return null;
    }

    static DocumentBuilder newBuilder() throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        factory.setExpandEntityReferences(false);
        return factory.newDocumentBuilder();
    }

    static Document parse(byte[] bytes) throws Exception {
        return newBuilder().parse(new ByteArrayInputStream(bytes));
    }

    /** Serialise and parse again, so the DOM is exactly what a receiver of these bytes has. */
    static Document reparse(Document document) throws Exception {
        Transformer transformer = TransformerFactory.newInstance().newTransformer();
        transformer.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
        transformer.setOutputProperty(OutputKeys.INDENT, "no");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        transformer.transform(new DOMSource(document), new StreamResult(out));
        return parse(out.toByteArray());
    }

    static X509Certificate readCertificate(Path path) throws Exception {
        try (FileInputStream in = new FileInputStream(path.toFile())) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }
}

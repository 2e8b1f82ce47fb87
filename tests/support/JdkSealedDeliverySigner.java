/*
 * An independent signer of Mina meddelanden deliveries, written on the JDK alone (javax.xml.crypto
 * with the "DOM" XMLSignatureFactory, Apache Santuario inside the JDK). It imports nothing from
 * Utskick and writes what a Java/JAXB-based sender and intermediary write:
 *
 *   - every element namespace-prefixed, ns2, ns3, … declared on the root as JAXB does, and the
 *     signatures with the ds: prefix;
 *   - the sender's enveloped signature as the last child of SignedDelivery, the intermediary's as
 *     the last child of SealedDelivery: exc-c14n, RSA-SHA256, SHA-256, one Reference URI="" with
 *     the enveloped-signature transform, KeyInfo/X509Data with X509SubjectName as
 *     X500Principal.getName() writes it (RFC 2253, serialNumber as 2.5.4.5=#13…) and the
 *     X509Certificate; base64 as the JDK writes it (line breaks, &#13; once serialised);
 *   - a Seal whose ReceivedTime is an xs:date written by XMLGregorianCalendar with the
 *     Europe/Stockholm offset (2026-12-06+01:00) and SignaturesOK true.
 *
 * Two ways of signing:
 *   prefixed  the digests and signature values are computed over the prefixed form as it is;
 *   stripped  the prefixes are stripped before signing (a default namespace declaration where
 *             the namespace changes, the signatures unprefixed: Skatteverket's rule), and the
 *             signed document is then written prefixed (ds: on the signatures) for sending.
 *
 * Run: java JdkSealedDeliverySigner.java prefixed|stripped delivery.xml sender.pem sealer.pem
 *          sealed-out.xml request-out.xml
 * delivery.xml holds an unsigned Delivery (or a SignedDelivery holding one); each .pem holds a
 * PKCS#8 "PRIVATE KEY" and the signer's "CERTIFICATE". Writes the SealedDelivery document and the
 * SOAP deliverSecure request (the SealedDelivery's children inside deliverSecure/deliverSecure,
 * the prefixes declared on the outer deliverSecure, as JAX-WS writes a request).
 */

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.xml.XMLConstants;
import javax.xml.crypto.dsig.CanonicalizationMethod;
import javax.xml.crypto.dsig.DigestMethod;
import javax.xml.crypto.dsig.Reference;
import javax.xml.crypto.dsig.SignatureMethod;
import javax.xml.crypto.dsig.SignedInfo;
import javax.xml.crypto.dsig.Transform;
import javax.xml.crypto.dsig.XMLSignature;
import javax.xml.crypto.dsig.XMLSignatureFactory;
import javax.xml.crypto.dsig.dom.DOMSignContext;
import javax.xml.crypto.dsig.keyinfo.KeyInfo;
import javax.xml.crypto.dsig.keyinfo.KeyInfoFactory;
import javax.xml.crypto.dsig.spec.C14NMethodParameterSpec;
import javax.xml.crypto.dsig.spec.TransformParameterSpec;
import javax.xml.datatype.DatatypeFactory;
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

public class JdkSealedDeliverySigner {

    static final String SERVICE_V3 = "http://minameddelanden.gov.se/schema/Service/v3";
    static final String MESSAGE_V3 = "http://minameddelanden.gov.se/schema/Message/v3";
    static final String MESSAGE = "http://minameddelanden.gov.se/schema/Message";
    static final String SOAP = "http://schemas.xmlsoap.org/soap/envelope/";
    static final String XMLNS = XMLConstants.XMLNS_ATTRIBUTE_NS_URI;

    /** Namespace to prefix, in the order JAXB numbers them (ns2 first); ds for XML-DSig. */
    final Map<String, String> prefixes = new LinkedHashMap<>();

    public static void main(String[] args) throws Exception {
        if (args.length != 6 || !List.of("prefixed", "stripped").contains(args[0])) {
            System.err.println("usage: java JdkSealedDeliverySigner.java prefixed|stripped "
                    + "delivery.xml sender.pem sealer.pem sealed-out.xml request-out.xml");
            System.exit(2);
        }
        boolean stripped = args[0].equals("stripped");
        Element delivery = parse(Files.readAllBytes(Path.of(args[1]))).getDocumentElement();
        if ("SignedDelivery".equals(delivery.getLocalName())) {
            delivery = firstElementChild(delivery);
        }
        Signer sender = Signer.read(Path.of(args[2]));
        Signer sealer = Signer.read(Path.of(args[3]));
        JdkSealedDeliverySigner writer = new JdkSealedDeliverySigner(delivery);

        Document sealed = writer.signAndSeal(delivery, sender, sealer, stripped);
        Files.write(Path.of(args[4]), serialise(sealed));
        Files.write(Path.of(args[5]), serialise(writer.deliverSecure(sealed)));
    }

    JdkSealedDeliverySigner(Element delivery) {
        prefixes.put(MESSAGE_V3, "ns2");
        collectNamespaces(delivery);
        prefixes.putIfAbsent(MESSAGE, "ns" + (prefixes.size() + 2));
        prefixes.put(SERVICE_V3, "ns" + (prefixes.size() + 2));
        prefixes.put(XMLSignature.XMLNS, "ds");
    }

    void collectNamespaces(Element element) {
        String namespace = element.getNamespaceURI();
        if (namespace != null) {
            prefixes.putIfAbsent(namespace, "ns" + (prefixes.size() + 2));
        }
        for (Node child = element.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child.getNodeType() == Node.ELEMENT_NODE) {
                collectNamespaces((Element) child);
            }
        }
    }

    Document signAndSeal(Element delivery, Signer sender, Signer sealer, boolean stripped)
            throws Exception {
        Document signed = newBuilder().newDocument();
        Element signedDelivery = signed.createElementNS(MESSAGE_V3, "SignedDelivery");
        signed.appendChild(signedDelivery);
        copy(delivery, signedDelivery, !stripped, MESSAGE_V3);
        finishRoot(signedDelivery, stripped);
        sender.sign(signedDelivery, stripped ? null : "ds");

        Document sealed = newBuilder().newDocument();
        Element sealedDelivery = sealed.createElementNS(MESSAGE_V3, "SealedDelivery");
        sealed.appendChild(sealedDelivery);
        sealedDelivery.appendChild(sealed.importNode(signedDelivery, true));
        Element seal = sealed.createElementNS(MESSAGE_V3, "Seal");
        sealedDelivery.appendChild(seal);
        appendText(seal, MESSAGE, "ReceivedTime", receivedTime());
        appendText(seal, MESSAGE, "SignaturesOK", "true");
        if (stripped) {
            setDefaultNamespaces(seal, MESSAGE_V3);
        } else {
            prefixAll(sealedDelivery);
        }
        finishRoot(sealedDelivery, stripped);
        sealer.sign(sealedDelivery, stripped ? null : "ds");
        if (!stripped) {
            return sealed;
        }
        // Signed without prefixes, sent as JAXB writes it: every element prefixed.
        Document prefixed = newBuilder().newDocument();
        Element root = prefixed.createElementNS(MESSAGE_V3, "SealedDelivery");
        prefixed.appendChild(root);
        for (Node child = sealedDelivery.getFirstChild(); child != null; child = child.getNextSibling()) {
            copy(child, root, true, MESSAGE_V3);
        }
        finishRoot(root, false);
        return prefixed;
    }

    /** Today in Sweden as XMLGregorianCalendar writes an xs:date: 2026-12-06+01:00. */
    static String receivedTime() throws Exception {
        ZonedDateTime now = ZonedDateTime.now(ZoneId.of("Europe/Stockholm"));
        LocalDate day = now.toLocalDate();
        return DatatypeFactory.newInstance().newXMLGregorianCalendarDate(day.getYear(),
                day.getMonthValue(), day.getDayOfMonth(),
                now.getOffset().getTotalSeconds() / 60).toXMLFormat();
    }

    /** A copy of `source` under `parent`: prefixed from the map, or with default namespaces. */
    void copy(Node source, Element parent, boolean prefixed, String parentNamespace) {
        Document document = parent.getOwnerDocument();
        if (source.getNodeType() == Node.TEXT_NODE) {
            parent.appendChild(document.createTextNode(source.getNodeValue()));
            return;
        }
        if (source.getNodeType() != Node.ELEMENT_NODE) {
            return;
        }
        String namespace = source.getNamespaceURI();
        Element copy = document.createElementNS(namespace, qualified(namespace, source.getLocalName(), prefixed));
        if (!prefixed && namespace != null && !namespace.equals(parentNamespace)) {
            copy.setAttributeNS(XMLNS, "xmlns", namespace);
        }
        NamedNodeMap attributes = source.getAttributes();
        for (int i = 0; i < attributes.getLength(); i++) {
            Attr attribute = (Attr) attributes.item(i);
            if (!XMLNS.equals(attribute.getNamespaceURI())) {
                copy.setAttributeNS(attribute.getNamespaceURI(), attribute.getName(), attribute.getValue());
            }
        }
        parent.appendChild(copy);
        for (Node child = source.getFirstChild(); child != null; child = child.getNextSibling()) {
            copy(child, copy, prefixed, namespace);
        }
    }

    String qualified(String namespace, String local, boolean prefixed) {
        return prefixed && namespace != null ? prefixes.get(namespace) + ":" + local : local;
    }

    /** JAXB declares every prefix on the root; the prefix-free form declares its namespace. */
    void finishRoot(Element root, boolean stripped) {
        if (stripped) {
            root.setAttributeNS(XMLNS, "xmlns", root.getNamespaceURI());
            return;
        }
        root.setPrefix(prefixes.get(root.getNamespaceURI()));
        for (Map.Entry<String, String> entry : prefixes.entrySet()) {
            if (!entry.getKey().equals(SERVICE_V3)) {
                root.setAttributeNS(XMLNS, "xmlns:" + entry.getValue(), entry.getKey());
            }
        }
    }

    void prefixAll(Element element) {
        if (element.getPrefix() == null) {
            element.setPrefix(prefixes.get(element.getNamespaceURI()));
        }
        for (Node child = element.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child.getNodeType() == Node.ELEMENT_NODE) {
                prefixAll((Element) child);
            }
        }
    }

    static void setDefaultNamespaces(Element element, String parentNamespace) {
        if (!element.getNamespaceURI().equals(parentNamespace)) {
            element.setAttributeNS(XMLNS, "xmlns", element.getNamespaceURI());
        }
        for (Node child = element.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child.getNodeType() == Node.ELEMENT_NODE) {
                setDefaultNamespaces((Element) child, element.getNamespaceURI());
            }
        }
    }

    static void appendText(Element parent, String namespace, String local, String text) {
        Element element = parent.getOwnerDocument().createElementNS(namespace, local);
        element.appendChild(parent.getOwnerDocument().createTextNode(text));
        parent.appendChild(element);
    }

    /** The SOAP request: the SealedDelivery's children inside deliverSecure/deliverSecure. */
    Document deliverSecure(Document sealed) throws Exception {
        Document request = newBuilder().newDocument();
        Element envelope = request.createElementNS(SOAP, "S:Envelope");
        envelope.setAttributeNS(XMLNS, "xmlns:S", SOAP);
        request.appendChild(envelope);
        Element body = request.createElementNS(SOAP, "S:Body");
        envelope.appendChild(body);
        String service = prefixes.get(SERVICE_V3);
        Element outer = request.createElementNS(SERVICE_V3, service + ":deliverSecure");
        for (Map.Entry<String, String> entry : prefixes.entrySet()) {
            outer.setAttributeNS(XMLNS, "xmlns:" + entry.getValue(), entry.getKey());
        }
        body.appendChild(outer);
        Element inner = request.createElementNS(SERVICE_V3, service + ":deliverSecure");
        outer.appendChild(inner);
        Element root = sealed.getDocumentElement();
        for (Node child = root.getFirstChild(); child != null; child = child.getNextSibling()) {
            inner.appendChild(request.importNode(child, true));
        }
        return request;
    }

    /** A private key and certificate read from PEM, signing as javax.xml.crypto does. */
    record Signer(PrivateKey key, X509Certificate certificate) {
        static final Pattern BLOCK = Pattern.compile(
                "-----BEGIN ([A-Z ]+)-----([^-]+)-----END \\1-----");

        static Signer read(Path path) throws Exception {
            String pem = Files.readString(path, StandardCharsets.US_ASCII);
            PrivateKey key = null;
            X509Certificate certificate = null;
            Matcher blocks = BLOCK.matcher(pem);
            while (blocks.find()) {
                byte[] der = Base64.getMimeDecoder().decode(blocks.group(2));
                if (blocks.group(1).equals("PRIVATE KEY")) {
                    key = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
                } else if (blocks.group(1).equals("CERTIFICATE") && certificate == null) {
                    certificate = (X509Certificate) CertificateFactory.getInstance("X.509")
                            .generateCertificate(new ByteArrayInputStream(der));
                }
            }
            if (key == null || certificate == null) {
                throw new IllegalArgumentException(path + ": needs a PKCS#8 PRIVATE KEY and a CERTIFICATE");
            }
            return new Signer(key, certificate);
        }

        /** An enveloped signature appended as the last child of `root`. */
        void sign(Element root, String prefix) throws Exception {
            XMLSignatureFactory factory = XMLSignatureFactory.getInstance("DOM");
            Reference reference = factory.newReference("",
                    factory.newDigestMethod(DigestMethod.SHA256, null),
                    List.of(factory.newTransform(Transform.ENVELOPED, (TransformParameterSpec) null)),
                    null, null);
            SignedInfo signedInfo = factory.newSignedInfo(
                    factory.newCanonicalizationMethod(CanonicalizationMethod.EXCLUSIVE,
                            (C14NMethodParameterSpec) null),
                    factory.newSignatureMethod("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", null),
                    Collections.singletonList(reference));
            KeyInfoFactory keys = factory.getKeyInfoFactory();
            KeyInfo keyInfo = keys.newKeyInfo(List.of(keys.newX509Data(
                    List.of(certificate.getSubjectX500Principal().getName(), certificate))));
            DOMSignContext context = new DOMSignContext(key, root);
            if (prefix != null) {
                context.setDefaultNamespacePrefix(prefix);
            }
            factory.newXMLSignature(signedInfo, keyInfo).sign(context);
        }
    }

    static Element firstElementChild(Element parent) {
        for (Node child = parent.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child.getNodeType() == Node.ELEMENT_NODE) {
                return (Element) child;
            }
        }
        throw new IllegalArgumentException(parent.getLocalName() + " has no child element");
    }

    static DocumentBuilder newBuilder() throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        return factory.newDocumentBuilder();
    }

    static Document parse(byte[] bytes) throws Exception {
        return newBuilder().parse(new ByteArrayInputStream(bytes));
    }

    /** As Java writes a DOM: UTF-8, an XML declaration, no indentation. */
    static byte[] serialise(Document document) throws Exception {
        Transformer transformer = TransformerFactory.newInstance().newTransformer();
        transformer.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
        transformer.setOutputProperty(OutputKeys.INDENT, "no");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        transformer.transform(new DOMSource(document), new StreamResult(out));
        return out.toByteArray();
    }
}

// How the XML-RPC parser was chosen: SwiftRPC's own small parser (XMLRPCCodec.decodeCall, the
// code `/RPC2` runs) against FoundationXML's XMLParser (libxml2 underneath) building the same
// tree, on the same documents, in one run:
//
//     XMLBench [ITERATIONS]
//
// Prints calls decoded per second for each, and their ratio.
import Foundation
import FoundationXML
import SwiftRPC
import SwiftRPCServer

let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 20_000 : 20_000

/// What Python's xmlrpc.client sends for `add(20, 22)`, and a call with a struct of every type.
let documents: [(String, [UInt8])] = [
    ("add(20, 22)", Array("""
        <?xml version='1.0'?>
        <methodCall>
        <methodName>add</methodName>
        <params>
        <param>
        <value><int>20</int></value>
        </param>
        <param>
        <value><int>22</int></value>
        </param>
        </params>
        </methodCall>
        """.utf8)),
    ("echo(struct of every type)", Array("""
        <?xml version='1.0'?>
        <methodCall><methodName>echo</methodName><params><param><value><struct>
        <member><name>n</name><value><int>1</int></value></member>
        <member><name>f</name><value><double>2.5</double></value></member>
        <member><name>yes</name><value><boolean>1</boolean></value></member>
        <member><name>none</name><value><nil/></value></member>
        <member><name>text</name><value><string>a &lt;b&gt; &amp; c</string></value></member>
        <member><name>when</name><value><dateTime.iso8601>20261203T10:00:00</dateTime.iso8601></value></member>
        <member><name>list</name><value><array><data><value><int>1</int></value><value><string>two</string></value></data></array></value></member>
        </struct></value></param></params></methodCall>
        """.utf8)),
]

/// FoundationXML's event parser building a tree of element names and text (what the codec
/// needs before it maps values); the mapping itself is left out, in FoundationXML's favour.
final class TreeBuilder: NSObject, XMLParserDelegate {
    final class Node {
        let name: String
        var children: [Node] = []
        var text = ""
        init(_ name: String) { self.name = name }
    }
    var stack: [Node] = [Node("#document")]

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        let node = Node(name)
        stack[stack.count - 1].children.append(node)
        stack.append(node)
    }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack[stack.count - 1].text += string
    }
}

func rate(_ body: () -> Bool) -> Double {
    let start = ContinuousClock.now
    for _ in 0..<iterations { precondition(body()) }
    let elapsed = ContinuousClock.now - start
    return Double(iterations) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

for (label, bytes) in documents {
    let own = rate { (try? XMLRPCCodec.decodeCall(bytes)) != nil }
    let data = Data(bytes)
    let foundation = rate {
        let parser = XMLParser(data: data)
        let builder = TreeBuilder()
        parser.delegate = builder
        return parser.parse()
    }
    print("\(label):\tSwiftRPC parser \(Int(own))/s\tFoundationXML XMLParser \(Int(foundation))/s\tratio \(String(format: "%.1f", own / foundation))")
}

extension XMLReader {
/// An element of a parsed XML document: its name, child elements and character data.
struct Element: Sendable, Equatable {
    var name: String
    var children: [Element] = []
    /// The character data directly inside this element, entities resolved.
    var text: String = ""

    func child(_ name: String) -> Element? { children.first { $0.name == name } }
}
}

/// A deliberately small XML parser for XML-RPC bodies. It takes elements, attributes (read and
/// dropped), character data, CDATA, comments, processing instructions, the five predefined
/// entities and character references — and refuses any DTD, so no entity can be declared,
/// expanded or fetched. Depth is limited; every error is an `XMLError`, never a crash.
///
/// Chosen over FoundationXML's `XMLParser` by measurement (Benchmarks/XMLBench) and for what it
/// cannot do: libxml2 under `XMLParser` takes DTDs and internal entities.
struct XMLReader {
    struct XMLError: Error, Sendable, CustomStringConvertible {
        let message: String
        let offset: Int
        var description: String { "malformed XML at byte \(offset): \(message)" }
    }

    static let maxDepth = 64

    private let bytes: [UInt8]
    private var position = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The document's root element.
    static func parse(_ bytes: [UInt8]) throws(XMLError) -> Element {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw XMLError(message: "the body is not valid UTF-8", offset: 0) }
        var parser = XMLReader(bytes)
        return try parser.document()
    }

    private mutating func document() throws(XMLError) -> Element {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }  // a byte-order mark
        try skipMisc()
        guard peek() == UInt8(ascii: "<") else { throw error("expected the root element") }
        let root = try element(depth: 1)
        try skipMisc()
        guard position == bytes.count else { throw error("content after the root element") }
        return root
    }

    /// Whitespace, comments and processing instructions between top-level items.
    private mutating func skipMisc() throws(XMLError) {
        while true {
            skipWhitespace()
            if starts(with: "<?") {
                try skip(past: "?>")
            } else if starts(with: "<!--") {
                try skip(past: "-->")
            } else if starts(with: "<!") {
                throw error("DTDs and declarations are not accepted")
            } else {
                return
            }
        }
    }

    private mutating func element(depth: Int) throws(XMLError) -> Element {
        guard depth <= Self.maxDepth else { throw error("elements nested deeper than \(Self.maxDepth)") }
        position += 1  // "<"
        var element = Element(name: try name())
        // Attributes: read and dropped (XML-RPC has none).
        while true {
            skipWhitespace()
            if starts(with: "/>") {
                position += 2
                return element
            }
            if peek() == UInt8(ascii: ">") {
                position += 1
                break
            }
            _ = try name()
            skipWhitespace()
            guard peek() == UInt8(ascii: "=") else { throw error("expected = after an attribute name") }
            position += 1
            skipWhitespace()
            guard let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else { throw error("expected a quoted attribute value") }
            position += 1
            guard let end = bytes[position...].firstIndex(of: quote) else { throw error("unterminated attribute value") }
            if bytes[position..<end].contains(UInt8(ascii: "<")) { throw error("< in an attribute value") }
            position = end + 1
        }
        var text: [UInt8] = []
        while true {
            guard let byte = peek() else { throw error("unclosed element <\(element.name)>") }
            if byte == UInt8(ascii: "&") {
                try reference(into: &text)
            } else if byte != UInt8(ascii: "<") {
                text.append(byte)
                position += 1
            } else if starts(with: "</") {
                position += 2
                let closing = try name()
                guard closing == element.name else { throw error("</\(closing)> closes <\(element.name)>") }
                skipWhitespace()
                guard peek() == UInt8(ascii: ">") else { throw error("expected > to end </\(closing)>") }
                position += 1
                element.text = String(decoding: text, as: UTF8.self)
                return element
            } else if starts(with: "<![CDATA[") {
                position += 9
                let start = position
                try skip(past: "]]>")
                text += bytes[start..<(position - 3)]
            } else if starts(with: "<!--") {
                try skip(past: "-->")
            } else if starts(with: "<?") {
                try skip(past: "?>")
            } else if starts(with: "<!") {
                throw error("DTDs and declarations are not accepted")
            } else {
                element.children.append(try self.element(depth: depth + 1))
            }
        }
    }

    private mutating func name() throws(XMLError) -> String {
        let start = position
        while let byte = peek(), !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D), byte != UInt8(ascii: ">"),
            byte != UInt8(ascii: "/"), byte != UInt8(ascii: "="), byte != UInt8(ascii: "<")
        {
            position += 1
        }
        guard position > start else { throw error("expected a name") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#N;` `&#xN;`; any other entity is an error.
    private mutating func reference(into text: inout [UInt8]) throws(XMLError) {
        let start = position + 1
        guard let end = bytes[start...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else { throw error("an & that starts no reference") }
        let name = String(decoding: bytes[start..<end], as: UTF8.self)
        position = end + 1
        switch name {
        case "lt": text.append(UInt8(ascii: "<"))
        case "gt": text.append(UInt8(ascii: ">"))
        case "amp": text.append(UInt8(ascii: "&"))
        case "quot": text.append(UInt8(ascii: "\""))
        case "apos": text.append(UInt8(ascii: "'"))
        case _ where name.hasPrefix("#"):
            let digits = name.dropFirst()
            let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
            guard let value, value != 0, let scalar = Unicode.Scalar(value) else { throw error("a bad character reference &\(name);") }
            text += Array(String(Character(scalar)).utf8)
        default:
            throw error("unknown entity &\(name.prefix(10));")
        }
    }

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private func starts(with literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else { return false }
        return literal.withUTF8Buffer { literal in bytes[position..<(position + count)].elementsEqual(literal) }
    }

    private mutating func skip(past literal: StaticString) throws(XMLError) {
        while position < bytes.count {
            if starts(with: literal) {
                position += literal.utf8CodeUnitCount
                return
            }
            position += 1
        }
        throw error("unterminated \(literal)")
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    private func error(_ message: String) -> XMLError { XMLError(message: message, offset: position) }
}

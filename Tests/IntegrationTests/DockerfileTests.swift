import Foundation
import ProcessSupport
import SwiftRPC
import Testing
import TestSupport

/// There is no Docker engine here, so what can be checked without one is: the build image's
/// Swift is new enough for every resolved package, the image gets every folder the manifest
/// builds from and the pinned versions, and its build step is a script that is there.
@Suite("Docker image")
struct DockerfileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func read(_ path: String) throws -> String {
        try String(contentsOfFile: root + "/" + path, encoding: .utf8)
    }

    /// `[6, 2]` from `// swift-tools-version:6.2` or `swift:6.2-bookworm`.
    static func version(after marker: String, in text: Substring) -> [Int]? {
        guard let range = text.range(of: marker) else { return nil }
        let digits = text[range.upperBound...].drop { $0 == " " }.prefix { $0.isNumber || $0 == "." }
        let parts = digits.split(separator: ".").compactMap { Int($0) }
        return parts.isEmpty ? nil : parts
    }

    static var imageSwift: [Int]? {
        get throws {
            let from = try read("docker/Dockerfile").split(separator: "\n").first { $0.hasPrefix("FROM swift:") }
            return from.flatMap { version(after: "FROM swift:", in: $0) }
        }
    }

    @Test func theBuildImageIsNewEnoughForEveryResolvedPackage() throws {
        let image = try #require(try Self.imageSwift, "docker/Dockerfile has no FROM swift:X.Y line")
        let resolved = try JSONParser.parse(try Self.read("Package.resolved"))
        guard case .array(let pins)? = resolved["pins"] else { Issue.record("Package.resolved has no pins"); return }
        var manifests = [("swift-rpc", try Self.read("Package.swift"))]
        for pin in pins {
            let name = try #require(pin["identity"]?.stringValue)
            let manifest = try String(contentsOfFile: Self.root + "/.build/checkouts/\(name)/Package.swift", encoding: .utf8)
            manifests.append((name, manifest))
        }
        for (name, manifest) in manifests {
            let tools = try #require(Self.version(after: "swift-tools-version:", in: manifest.prefix(200)), "\(name): no tools version")
            #expect(image.lexicographicallyPrecedes(tools) == false, "swift:\(image) is older than \(name)'s tools version \(tools)")
        }
    }

    @Test func theImageGetsEveryFolderThePackageBuildsFromAndRunsTheBuildScript() async throws {
        let dockerfile = try Self.read("docker/Dockerfile")
        let copied = Set(dockerfile.split(separator: "\n").filter { $0.hasPrefix("COPY ") && !$0.contains("--from") }.flatMap { $0.split(separator: " ").dropFirst() }.map(String.init))
        #expect(copied.isSuperset(of: ["Package.swift", "Package.resolved"]))
        // Sources/ and Tests/ by convention, and the first folder of every `path:` in the manifest.
        let manifest = try Self.read("Package.swift")
        var folders: Set<String> = ["Sources", "Tests"]
        var rest = Substring(manifest)
        while let range = rest.range(of: "path: \"") {
            folders.insert(String(rest[range.upperBound...].prefix { $0 != "/" && $0 != "\"" }))
            rest = rest[range.upperBound...]
        }
        #expect(copied.isSuperset(of: folders), "the image lacks \(folders.subtracting(copied).sorted())")
        #expect(dockerfile.contains("RUN scripts/build-release "))
        #expect(FileManager.default.isExecutableFile(atPath: Self.root + "/scripts/build-release"))
        let syntax = try ChildProcess(executable: "bash", arguments: ["-n", Self.root + "/scripts/build-release"])
        #expect(await syntax.wait(timeout: .seconds(10)) == 0)
    }
}

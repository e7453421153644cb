"""Given names, family names and e-mail domains for demo customers.

The domains are the ones RFC 2606 reserves, so no demo e-mail can ever reach a real person.
"""


def _words(table: str) -> list[str]:
    """The names in a whitespace-separated table, which reads better than a list literal."""
    return table.split()


US_GIVEN = _words("""
James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard
Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty
Anthony Sandra Mark Ashley Steven Emily Andrew Kimberly Joshua Donna Kevin Michelle Brian Carol
Ethan Amanda Jacob Melissa Tyler Stephanie Aaron Rebecca Jose Laura Noah Olivia Liam Emma Mason
Sophia Lucas Ava Logan Isabella Elijah Mia Aiden Harper Jackson Evelyn Caleb Abigail Jamal Aaliyah
Wei Mei Hiroshi Yuki Raj Priya Carlos Maria Diego Lucia
""")

US_FAMILY = _words("""
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Chen Patel Kim
Okafor Murphy Cooper Reed Bailey Bell Gomez Kelly Howard Ward Cox Diaz Richardson Wood Watson
Brooks Bennett Gray James Reyes Cruz Hughes Price Myers Long Foster Sanders Ross Morales
""")

EU_GIVEN = _words("""
Lukas Anna Jonas Lea Elias Mia Felix Emma Noah Hannah Paul Sophie Luca Giulia Matteo Sofia
Léa Hugo Chloé Louis Inès Jules Camille Lucas Manon Daan Sanne Bram Fleur Lars Ingrid Mateusz
Zofia Jakub Alicja Pablo Lucía Álvaro Carmen Tomás Inês João Beatriz Oskar Elsa Magnus Astrid
Sébastien Zoë Björn Søren
""")

EU_FAMILY = _words("""
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Rossi Russo Ferrari Esposito Bianchi
Martin Bernard Dubois Thomas Robert Petit Durand Leroy Visser Jansen Smit Mulder Bakker
Nowak Kowalski Wiśniewski García Fernández González Rodríguez Martínez Silva Santos Ferreira
Andersson Johansson Nielsen Hansen Larsen Novák Horváth Kovács Murphy O'Brien
""")

EMAIL_DOMAINS = ["example.com", "example.net", "example.org", "mail.example"]

# Wholesale accounts are businesses: a family name and one of these.
BUSINESS_SUFFIXES = ["Outfitters", "Supply Co.", "Trading", "Retail Group", "& Sons", "Boutique"]

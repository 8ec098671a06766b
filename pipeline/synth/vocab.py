"""Word lists for realistic synthetic people, places and notes."""

from __future__ import annotations

import unicodedata

import numpy as np

# The 50 states by their internal code; how a source system writes them is a convention (conventions.py).
US_STATES = tuple(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)

MALE_NAMES = """James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel
Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward
Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel
Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Douglas
Zachary Peter Kyle Noah Ethan Jeremy Walter Christian Keith Roger Terry Austin Sean Gerald Carl Dylan
Harold Jordan Jesse Bryan Lawrence Arthur Gabriel Bruce Logan Billy Joe Alan Juan Elijah Willie Albert
Wayne Randy Mason Vincent Liam Roy Bobby Caleb Bradley Russell Lucas""".split()

FEMALE_NAMES = """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty
Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Dorothy
Rebecca Sharon Laura Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna Pamela Nicole Samantha
Katherine Christine Helen Debra Rachel Carolyn Janet Maria Catherine Heather Diane Olivia Julie Joyce
Victoria Ruth Virginia Lauren Kelly Christina Joan Evelyn Judith Andrea Hannah Megan Cheryl Jacqueline
Martha Madison Teresa Gloria Sara Janice Ann Kathryn Abigail Sophia Frances Jean Alice Judy Isabella
Julia Grace Amber Denise Danielle Marilyn Beverly Charlotte Natalie Theresa Diana Brittany Doris Kayla
Alexis Lori Marie Tanya""".split()

LAST_NAMES = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson
Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards
Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey
Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza
Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry
Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan
Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera
Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald
Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson
Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black
Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols
Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen
Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews
Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter
Lawrence Sandoval""".split()


def _nfc(words: str) -> list[str]:
    return [unicodedata.normalize("NFC", w) for w in words.split()]


# Names beyond ASCII, for systems whose customers' names (and so e-mail addresses) use them.
UNICODE_MALE_NAMES = _nfc(
    "José Łukasz François Jürgen Søren Björn Mátyás Çağan Rafał Håkon Zdeněk Andrés 李伟 张伟 Андрей Дмитрий Νίκος"
)
UNICODE_FEMALE_NAMES = _nfc(
    "Zoë Chloé Renée Mónica Åsa Małgorzata Agnès Jiřina Anaïs Sinéad Dörte Inés 王芳 李娜 Наталья Ольга Ελένη"
)
UNICODE_LAST_NAMES = _nfc(
    "Müller Núñez Łukasiewicz Østergaard Çelik Dvořák Gómez Sørensen Lefèvre Kovačević "
    "Håland Şahin Jiménez Wójcik 李 王 张 Иванов Смирнова Παπαδόπουλος"
)

# Real cities with their states; every one of the 50 states appears at least once.
CITY_STATES = [
    tuple(cs.rsplit(" ", 1))
    for cs in """Birmingham AL|Montgomery AL|Anchorage AK|Juneau AK
|Phoenix AZ|Tucson AZ|Mesa AZ|Little Rock AR|Fayetteville AR|Los Angeles CA|San Diego CA|San Jose CA
|San Francisco CA|Fresno CA|Sacramento CA|Oakland CA|Denver CO|Colorado Springs CO|Aurora CO
|Bridgeport CT|Hartford CT|Wilmington DE|Dover DE|Jacksonville FL|Miami FL|Tampa FL|Orlando FL
|Atlanta GA|Savannah GA|Augusta GA|Honolulu HI|Hilo HI|Boise ID|Idaho Falls ID|Chicago IL|Aurora IL
|Springfield IL|Indianapolis IN|Fort Wayne IN|Des Moines IA|Cedar Rapids IA|Wichita KS|Topeka KS
|Louisville KY|Lexington KY|New Orleans LA|Baton Rouge LA|Portland ME|Bangor ME|Baltimore MD
|Annapolis MD|Boston MA|Worcester MA|Springfield MA|Detroit MI|Grand Rapids MI|Lansing MI
|Minneapolis MN|Saint Paul MN|Jackson MS|Gulfport MS|Kansas City MO|St. Louis MO|Billings MT
|Missoula MT|Omaha NE|Lincoln NE|Las Vegas NV|Reno NV|Manchester NH|Concord NH|Newark NJ|Jersey City NJ
|Albuquerque NM|Santa Fe NM|New York NY|Buffalo NY|Rochester NY|Albany NY|Charlotte NC|Raleigh NC
|Greensboro NC|Fargo ND|Bismarck ND|Columbus OH|Cleveland OH|Cincinnati OH|Oklahoma City OK|Tulsa OK
|Portland OR|Salem OR|Philadelphia PA|Pittsburgh PA|Providence RI|Warwick RI|Charleston SC|Columbia SC
|Sioux Falls SD|Rapid City SD|Nashville TN|Memphis TN|Knoxville TN|Houston TX|San Antonio TX|Dallas TX
|Austin TX|Fort Worth TX|El Paso TX|Salt Lake City UT|Provo UT|Burlington VT|Montpelier VT
|Virginia Beach VA|Richmond VA|Seattle WA|Spokane WA|Tacoma WA|Charleston WV|Huntington WV
|Milwaukee WI|Madison WI|Cheyenne WY|Casper WY""".replace("\n", "").split("|")
]
CITIES = [c for c, _ in CITY_STATES]
CITY_STATE = np.array([US_STATES.index(s) for _, s in CITY_STATES])

REGIONS = ["Northeast", "Midwest", "South", "West"]  # by region code
_REGION_STATES = {
    "Northeast": "CT ME MA NH RI VT NJ NY PA",
    "Midwest": "IL IN MI OH WI IA KS MN MO NE ND SD",
    "South": "DE FL GA MD NC SC VA WV AL KY MS TN AR LA OK TX",
    "West": "AZ CO ID MT NV NM UT WY AK CA HI OR WA",
}
STATE_REGION = np.array([next(i for i, r in enumerate(REGIONS) if s in _REGION_STATES[r].split()) for s in US_STATES])

STREETS = """Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Walnut Sunset Lincoln Jackson
Church River Highland Forest Meadow Ridge Spring Willow Chestnut Franklin Madison Jefferson Adams
Center Mill Valley Cherry Birch Dogwood Magnolia Hickory Sycamore Laurel Railroad Prospect""".split()
STREET_SUFFIXES = ["St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way", "Pl"]

# Branch towns are made up, the way the original export's were (prefix + name + suffix).
TOWN_PREFIXES = ["", "", "North ", "South ", "East ", "West ", "New ", "Lake ", "Port "]
TOWN_SUFFIXES = [
    "",
    "ton",
    "ville",
    "burgh",
    "side",
    "mouth",
    "fort",
    "haven",
    "land",
    "view",
    "port",
    "chester",
    "stad",
    "bury",
    "berg",
    "furt",
    "shire",
    "borough",
]

CLAIM_NOTES = [
    "Documents received",
    "Awaiting medical report",
    "Police report attached",
    "Follow-up call scheduled",
    "Assessor visit completed",
    "Customer contacted",
    "Escalated to senior adjuster",
    "Duplicate check passed",
]

AUDIT_USERS = ["SYSTEM", "web_portal", "agent_portal", "batch_import"]
AUDIT_WEIGHTS = [0.6, 0.25, 0.1, 0.05]
